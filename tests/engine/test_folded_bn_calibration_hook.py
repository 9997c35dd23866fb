"""FoldedBNCalibrationHook / calibrate_folded_batchnorms: identity BNs get the statistics of their input, by hand
(over all ranks of a process group); other BNs are left alone; the hook skips resumed runs and models without
identity BNs, and checks its option."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from mmdet_face.engine.hooks import (FoldedBNCalibrationHook, calibrate_folded_batchnorms, identity_batchnorms,
                                     is_identity_batchnorm)


def _identity_bn(channels, bias):
    """What the folded-release import writes: weight 1, bias b', running mean 0, running variance 1 - eps."""
    bn = nn.BatchNorm2d(channels)
    with torch.no_grad():
        bn.bias.copy_(torch.tensor(bias))
        bn.running_var.fill_(1.0 - bn.eps)
    return bn


def _run(model, batches):
    return calibrate_folded_batchnorms(model, batches, lambda net, x: net(x))


def test_identity_state_is_recognised():
    assert is_identity_batchnorm(_identity_bn(2, [0.5, -1.0]))
    assert not is_identity_batchnorm(nn.BatchNorm2d(2))  # fresh init: running variance 1, not 1 - eps
    assert not is_identity_batchnorm(nn.BatchNorm2d(2, affine=False))
    assert not is_identity_batchnorm(nn.GroupNorm(1, 2))


def test_statistics_by_hand():
    # channel 0 sees 1, 3 (batch 1) and 5, 7 (batch 2): mean 4, biased variance (9 + 1 + 1 + 9) / 4 = 5;
    # channel 1 sees 2 everywhere: mean 2, variance 0
    bn = _identity_bn(2, [0.5, -1.0])
    batches = [torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]]]), torch.tensor([[[[5.0, 7.0]], [[2.0, 2.0]]]])]
    assert _run(bn, batches) == 1
    eps = bn.eps
    torch.testing.assert_close(bn.running_mean, torch.tensor([4.0, 2.0]))
    torch.testing.assert_close(bn.running_var, torch.tensor([5.0, 0.0]))
    torch.testing.assert_close(bn.weight.detach(), torch.tensor([(5.0 + eps) ** 0.5, eps ** 0.5]))
    torch.testing.assert_close(bn.bias.detach(), torch.tensor([4.5, 1.0]))
    assert bn.training  # the mode it had


def test_function_unchanged_in_eval_and_train_mode():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, bias=False)
    model = nn.Sequential(conv, _identity_bn(4, [0.1, -0.2, 0.3, 0.0]), nn.ReLU(),
                          nn.Conv2d(4, 2, 1, bias=False), _identity_bn(2, [1.0, 2.0])).eval()
    x = torch.randn(4, 3, 8, 8) * 3 + 1
    with torch.no_grad():
        released = model(x)
        assert _run(model, [x]) == 2 and not identity_batchnorms(model)
        torch.testing.assert_close(model(x), released, rtol=1e-5, atol=1e-5)
        # training mode on the calibration batch: its batch statistics are the calibrated ones
        torch.testing.assert_close(model.train()(x), released, rtol=1e-4, atol=1e-4)


def test_other_batchnorms_untouched_and_nothing_run_without_identity_bns():
    trained = nn.BatchNorm2d(2)
    model = nn.Sequential(trained, _identity_bn(2, [0.0, 0.0]))
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    assert _run(model, [torch.randn(2, 2, 3, 3)]) == 1
    assert all(torch.equal(before[k], v) for k, v in trained.state_dict().items())

    calls = []
    assert calibrate_folded_batchnorms(nn.Sequential(nn.BatchNorm2d(2)), [1, 2], lambda *a: calls.append(a)) == 0
    assert calls == []


def test_a_batchnorm_without_input_is_an_error():
    model = nn.ModuleDict(dict(used=_identity_bn(1, [0.0]), unused=_identity_bn(1, [0.0])))
    with pytest.raises(RuntimeError, match='received no input'):
        calibrate_folded_batchnorms(model, [torch.ones(1, 1, 2, 2)], lambda net, x: net['used'](x))


class _Detector(nn.Module):
    """The runner's model as the hook uses it: a data preprocessor and ``forward(inputs, samples, mode)``."""

    def __init__(self):
        super().__init__()
        self.bn = _identity_bn(1, [0.0])
        self.data_preprocessor = lambda data, training: dict(inputs=data['inputs'], data_samples=None)

    def forward(self, inputs, data_samples, mode):
        assert mode == 'tensor'
        return self.bn(inputs)


def _runner(iteration, batches):
    messages = []
    logger = SimpleNamespace(info=messages.append)
    return SimpleNamespace(iter=iteration, model=_Detector(), train_dataloader=batches, logger=logger), messages


def test_hook_uses_num_batches_of_the_training_data():
    batches = [dict(inputs=torch.full((1, 1, 1, 2), float(v))) for v in (1, 3, 100)]
    runner, messages = _runner(0, batches)
    FoldedBNCalibrationHook(num_batches=2).before_train(runner)
    torch.testing.assert_close(runner.model.bn.running_mean, torch.tensor([2.0]))  # 1 and 3; not 100
    assert messages == ['FoldedBNCalibrationHook: set 1 identity BatchNorms from the statistics of 2 training '
                        'batches (evaluation-mode output unchanged)']


def test_hook_skips_resumed_runs_and_models_without_identity_bns():
    runner, messages = _runner(5, [dict(inputs=torch.ones(1, 1, 1, 1))])
    FoldedBNCalibrationHook().before_train(runner)
    assert is_identity_batchnorm(runner.model.bn) and messages == []
    runner, messages = _runner(0, [dict(inputs=torch.ones(1, 1, 1, 1))])
    runner.model.bn = nn.BatchNorm2d(1)
    FoldedBNCalibrationHook().before_train(runner)
    assert torch.equal(runner.model.bn.running_mean, torch.zeros(1))
    assert 'nothing to calibrate' in messages[0]


@pytest.mark.parametrize('bad', [0, -1, 2.5, True, '20'])
def test_num_batches_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match=r'FoldedBNCalibrationHook: num_batches must be a positive integer, got'):
        FoldedBNCalibrationHook(num_batches=bad)


def test_registered_under_its_own_name():
    from mmdet_face.registry import HOOKS
    assert HOOKS.get('FoldedBNCalibrationHook') is FoldedBNCalibrationHook


def _calibrate_on_rank(rank, port, out):
    """Rank ``rank`` of 2 (gloo): its own batch, channel values {1, 3} on rank 0 and {5, 7} on rank 1."""
    import torch.distributed as torch_dist
    torch_dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2)
    try:
        bn = _identity_bn(1, [0.0])
        values = [[1.0, 3.0], [5.0, 7.0]][rank]
        _run(bn, [torch.tensor([[[values]]])])
        torch.save(bn.state_dict(), f'{out}/rank{rank}.pth')
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.slow  # two processes with a gloo group: ~30 s on a shared 2-core machine
def test_ranks_set_the_statistics_of_all_their_data(tmp_path):
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.spawn(_calibrate_on_rank, args=(port, str(tmp_path)), nprocs=2)
    states = [torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1)]
    for state in states:  # 1, 3, 5, 7: mean 4, biased variance 5, on both ranks
        torch.testing.assert_close(state['running_mean'], torch.tensor([4.0]))
        torch.testing.assert_close(state['running_var'], torch.tensor([5.0]))
        torch.testing.assert_close(state['bias'], torch.tensor([4.0]))
