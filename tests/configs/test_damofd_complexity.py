"""The README's DamoFD table is what ``tools/analysis/get_flops.py`` counts for each configs/damofd model at VGA,
and every counted figure is within 2 % of the published one next to it."""
import re

import pytest

from mmdet_face.engine.cli import read_tool_config
from mmdet_face.models.utils import get_model_complexity
from tests.helpers.paths import REPO_ROOT

ROW = re.compile(r'^\| `(damofd_\S+\.py)` \|\s*(\S+)\s*\|\s*(\S*)\s*\|\s*(\S+)\s*\|\s*(\S+)\s*\|.*\|$', re.M)
ROWS = ROW.findall((REPO_ROOT / 'README.md').read_text(encoding='utf-8'))


def test_the_table_lists_every_damofd_config():
    assert sorted(r[0] for r in ROWS) == sorted(p.name for p in (REPO_ROOT / 'configs' / 'damofd').glob('*.py'))


@pytest.mark.slow
@pytest.mark.parametrize('name, params, published_params, gflops, published_gflops', ROWS, ids=[r[0] for r in ROWS])
def test_counted_figures_match_the_table_and_the_publication(name, params, published_params, gflops,
                                                            published_gflops):
    counted = get_model_complexity(read_tool_config(str(REPO_ROOT / 'configs' / 'damofd' / name)), (480, 640))
    assert f'{counted["params_m"]:.4f}' == params and f'{counted["gflops"]:.3f}' == gflops
    assert abs(counted['gflops'] / float(published_gflops) - 1) <= 0.02
    if published_params:
        assert abs(counted['params_m'] / float(published_params) - 1) <= 0.02
