"""tools/checks/check_train_steps.py: a few iterations of a config's own pipeline/model/optimizer on one batch."""
import os.path as osp

from tests.helpers.tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_toy_srn_loss_falls_on_a_fixed_batch(capsys):
    tool = load_tool('tools/checks/check_train_steps.py')
    args = tool.parse_args([osp.join(ROOT, 'configs', 'toy', 'srn_toy.py'), '--iters', '4', '--batch', '1',
                            '--threads', '1', '--lr', '0.002'])
    result = tool.run(args)
    out = capsys.readouterr().out
    assert result['shape'] == (320, 320)  # the config's training size, after its pipeline
    assert len(result['history']) == 4 and result['finite']
    assert {'loss_stc_cls', 'loss_cls', 'loss_str_bbox', 'loss_bbox'} <= set(result['history'][0])
    assert result['history'][-1]['loss'] < result['history'][0]['loss']
    assert 'iter 4/4' in out and '(fell)' in out
