"""``search.py score``: one proxy of a structure string, a candidate config or a study trial; the last line of
stdout is JSON with the score and the per-stage values; bad input is refused with a message and no traceback."""
import json

import pytest

from search_tools import search
from tests.helpers.damofd import STRUCTURES
from tests.helpers.paths import REPO_ROOT
from tests.helpers.tools import run_tool

# the released DDSAR of DamoFD-10G at 224 (see tests/search_tools/test_proxies.py::RELEASED_DDSAR)
DDSAR_10G = 12.041123028661735
DDSAR_10G_STAGES = [11.639607240824478, 14.012800705596737, 12.719793908135246, 10.887200689086779,
                    7.901007889162892]


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def test_score_a_structure_string_as_a_user_runs_it():
    proc = run_tool('search_tools/search.py', 'score', '--proxy', 'ddsar', '--struct', STRUCTURES['10g'],
                    '--input', '224')
    assert proc.returncode == 0, proc.stderr
    record = last_json(proc.stdout)
    assert record['score'] == DDSAR_10G and record['per_stage'] == DDSAR_10G_STAGES
    assert record['proxy'] == 'ddsar' and record['input'] == [224, 224] and record['backbone'] == 'DamoFDNet'
    assert f'[search]   stage 5: {DDSAR_10G_STAGES[4]!r}' in proc.stdout


def test_score_options_and_a_candidate_config(capsys):
    record = search.main(['score', '--proxy', 'ddsar', '--struct', STRUCTURES['10g'], '--alpha', '0.25',
                          '--input', '640x480'])
    assert record['input'] == [480, 640]  # [H, W]; ddsar uses H
    assert last_json(capsys.readouterr().out) == record
    # alpha 0.25 adds 0.245 x each stage's kernel sum: the stem's two 3x3 layers -> + 0.245 x 6
    at_480 = search.main(['score', '--proxy', 'ddsar', '--struct', STRUCTURES['10g'], '--input', '480'])
    assert record['per_stage'][0] - at_480['per_stage'][0] == pytest.approx(0.245 * 6, rel=1e-12)
    capsys.readouterr()

    config = REPO_ROOT / 'configs' / 'scrfd' / 'scrfd_2.5g_4xb8-640e_widerface.py'
    record = search.main(['score', '--proxy', 'params', '--config', str(config)])
    assert record['backbone'] == 'ResNetV1e' and record['per_stage'] == []
    assert record['score'] == 574292.0  # the ResNetV1e backbone of SCRFD-2.5GF
    damofd = REPO_ROOT / 'configs' / 'damofd' / 'damofd_10g_4xb8-640e_widerface.py'
    assert search.main(['score', '--proxy', 'ddsar', '--config', str(damofd)])['score'] == DDSAR_10G
    assert last_json(capsys.readouterr().out)['source'] == f'--config {damofd}'


def test_score_a_trial_of_a_study(tmp_path, capsys):
    study = tmp_path / 'study'
    search.main(['sample', '--space', 'mobilenet', '--gflops', '0.2', '--num', '1', '--out', str(study)])
    capsys.readouterr()
    config = next((study / 'candidates').glob('cand_*.py'))
    by_trial = search.main(['score', '--proxy', 'ddsar', '--study', str(study), '--trial', '0'])
    by_config = search.main(['score', '--proxy', 'ddsar', '--config', str(config)])
    assert by_trial['score'] == by_config['score'] and by_trial['backbone'] == 'MobileNetV1'
    with pytest.raises(SystemExit, match=f'search.py score: --study {study}: no trial number 7'):
        search.main(['score', '--proxy', 'ddsar', '--study', str(study), '--trial', '7'])


@pytest.mark.parametrize('argv, message', [
    (['--proxy', 'ddsar', '--struct', 'SuperConvK3BNRELU(3,32,2,1)SuperResK3K3(32,64,3,16,1)'],
     "search.py score: --struct, position 27, block 1 'SuperResK3K3(32,64,3,16,1)': stride must be 1 or 2, got 3"),
    (['--proxy', 'zen', '--struct', 'SuperConvK3BNRELU(3,32,2,1)SuperResK3K3(16,64,2,16,1)'],
     'in_channels is 16 but the previous block outputs 32 channels'),
    (['--proxy', 'ddsar', '--struct', 'SuperConvK3BNRELU(3,32,2,1)SuperResX(32,64,2,16,1)'],
     "unknown block name 'SuperResX'"),
    (['--proxy', 'ddsar', '--config', 'no/such.py'], 'search.py score: --config no/such.py: no such config file'),
    (['--proxy', 'params', '--config', str(REPO_ROOT / 'configs' / '_base_' / 'schedules' / 'scrfd_640e.py')],
     'scrfd_640e.py: the config has no model.backbone with a type'),
    (['--proxy', 'ddsar', '--struct', 'SuperConvK3BNRELU(3,32,2,1)'],
     'search.py score: --proxy ddsar: DDSAR weighs 5 stages (stem, C2..C5); the structure has 1 blocks'),
])
def test_bad_input_is_refused_with_a_message(argv, message):
    with pytest.raises(SystemExit) as exc:
        search.main(['score'] + argv)
    assert message in str(exc.value.code)


@pytest.mark.parametrize('argv, message', [
    (['--proxy', 'zen', '--struct', 'x', '--alpha', '1'], '--alpha is an option of --proxy ddsar, not of zen'),
    (['--proxy', 'ddsar', '--struct', 'x', '--trial', '1'], '--study and --trial go together'),
    (['--proxy', 'ddsar', '--struct', 'x', '--alpha', 'nan'], 'argument --alpha'),
    (['--proxy', 'ddsar', '--struct', 'x', '--input', '0x5'], 'argument --input'),
    (['--proxy', 'synflow', '--struct', 'x'], "argument --proxy: invalid choice: 'synflow'"),
    (['--proxy', 'ddsar'], 'one of the arguments --struct --config --study is required'),
])
def test_bad_options_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        search.parse_args(['score'] + argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err
