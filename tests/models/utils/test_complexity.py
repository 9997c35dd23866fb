"""Parameters and VGA FLOPs of every published SCRFD config against SCRFD's table (3% tolerance)."""

import numpy as np
import pytest
import torch.nn as nn
from mmengine.config import Config

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.models.utils import get_model_complexity
from tests.helpers.paths import REPO_ROOT, shared_path

CONFIG_DIR = REPO_ROOT / 'configs' / 'scrfd'

# name: (params in M, GFLOPs at 640x480 or None when the table gives none)
PUBLISHED = {
    'scrfd_500m_4xb8-640e_widerface.py': (0.57, 0.508),
    'scrfd_1g_4xb8-640e_widerface.py': (0.64, 1.0),
    'scrfd_2.5g_4xb8-640e_widerface.py': (0.67, 2.53),
    'scrfd_10g_4xb8-640e_widerface.py': (3.86, 9.98),
    'scrfd_34g_4xb8-640e_widerface.py': (9.80, 34.13),
    # the released scrfd_500m_bnkps.onnx holds 0.631M parameters once BN weights and biases are counted
    'scrfd_500m_bnkps_4xb16-640e_widerface.py': (0.631, None),
    'scrfd_2.5g_bnkps_4xb8-640e_widerface.py': (0.82, None),
    'scrfd_10g_bnkps_4xb8-640e_widerface.py': (4.23, None),
}


def test_every_config_is_listed():
    # the fine-tuning recipes (*_finetune_*) train a published model further; they are no model of their own
    assert sorted(p.name for p in CONFIG_DIR.glob('scrfd_*.py') if '_finetune_' not in p.name) == sorted(PUBLISHED)


@pytest.mark.parametrize('name', sorted(PUBLISHED))
def test_params_and_flops_match_table(name):
    params_m, gflops = PUBLISHED[name]
    result = get_model_complexity(Config.fromfile(str(CONFIG_DIR / name)), (480, 640))
    assert result['params_m'] == pytest.approx(params_m, rel=0.03)
    if gflops is not None:
        assert result['gflops'] == pytest.approx(gflops, rel=0.03)


def test_500m_bnkps_matches_released_onnx():
    """Same conv layers as the released model; parameters = ONNX initializers (BN folded) + BN channels."""
    onnx = pytest.importorskip('onnx')
    graph = onnx.load(str(shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx'))).graph
    model = init_face_detector(str(CONFIG_DIR / 'scrfd_500m_bnkps_4xb16-640e_widerface.py'))
    onnx_convs = sorted(tuple(i.dims) for i in graph.initializer if len(i.dims) == 4)
    our_convs = sorted(tuple(p.shape) for p in model.parameters() if p.dim() == 4)
    assert onnx_convs == our_convs
    # after folding, every conv carries one bias of out_channels; BN adds a weight per channel on top
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    bn_channels = sum(m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    folded = sum(int(np.prod(s)) for s in our_convs) + sum(c.out_channels for c in convs)
    assert sum(p.numel() for p in model.parameters()) == folded + bn_channels
    assert folded + bn_channels == pytest.approx(631_400, abs=100)



def test_models_import_nothing_from_the_floors_above():
    """models sits below apis, engine and deployment (they build models): no module of mmdet_face/models imports
    them, at import time or inside a function; counting a config builds through models.utils.build."""
    import ast
    models_dir = CONFIG_DIR.parents[1] / 'mmdet_face' / 'models'
    upward = []
    for path in sorted(models_dir.rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
            upward += [f'{path.relative_to(models_dir)}:{node.lineno}' for n in names
                       if n.startswith(('mmdet_face.apis', 'mmdet_face.engine', 'mmdet_face.deployment'))]
    assert upward == []


def test_a_config_path_is_refused_naming_what_to_pass():
    """The package receives objects (tools read files): a path is a TypeError saying how to read it."""
    with pytest.raises(TypeError, match=r"got the path '.*scrfd_500m.*': read it first \(mmengine.Config.fromfile"):
        get_model_complexity(str(CONFIG_DIR / 'scrfd_500m_4xb8-640e_widerface.py'))
