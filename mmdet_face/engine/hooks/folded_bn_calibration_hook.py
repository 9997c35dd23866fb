"""Make the identity BatchNorms of a converted BN-folded release trainable without changing what the model computes.

A release exported with BatchNorm folded into the convolutions (SCRFD's ONNX files: ``w' = w * gamma / sigma``,
``b' = beta - mu * gamma / sigma``) keeps no BN statistics. :mod:`mmdet_face.deployment.scrfd_onnx_import` loads it
into a BN config through identity BNs (weight 1, bias ``b'``, running mean 0, running variance ``1 - eps``), exact
in evaluation mode. In training mode, however, BN normalises by the *batch* statistics: every layer's output is
rescaled to unit variance and re-centred at ``b'``, so the first training step starts from another network than the
release, with a loss far above the release's own (docs/finetune.md has the figures).

:func:`calibrate_folded_batchnorms` measures, per identity BN, the per-channel mean ``m`` and (biased) variance
``v`` of its input on a few training batches (the model in evaluation mode: the release's function), then sets

    running_mean = m, running_var = v, weight = sqrt(v + eps), bias = b' + m

so that in evaluation mode ``(x - m) / sqrt(v + eps) * sqrt(v + eps) + b' + m = x + b'`` (the release, to float
rounding), and in training mode, on batches like the calibration ones, the batch statistics are close to ``m`` and
``v`` and the layer again computes about ``x + b'``. The BN statistics then follow the new data as usual. This is
the unfolding ``gamma = sigma``, ``mu = m`` with the statistics taken from the user's data instead of the release's
(which the folded file no longer holds). :class:`FoldedBNCalibrationHook` does it once, before the first training
iteration; BNs that are not in the identity state (a model trained here, a resumed run) are left alone.
"""
from typing import Iterable, List

import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.hooks import Hook

from mmdet_face.registry import HOOKS


def is_identity_batchnorm(module: nn.Module) -> bool:
    """Whether ``module`` is a BatchNorm in the state the folded-release import writes: affine weight all 1,
    running mean all 0, running variance all ``1 - eps`` (a freshly initialised BN has variance 1: not this)."""
    if not isinstance(module, nn.modules.batchnorm._BatchNorm) or not module.affine or module.running_var is None:
        return False
    target = torch.full_like(module.running_var, 1.0 - module.eps)
    return bool(torch.equal(module.weight.detach(), torch.ones_like(module.weight))
                and torch.equal(module.running_mean, torch.zeros_like(module.running_mean))
                and torch.equal(module.running_var, target))


def identity_batchnorms(model: nn.Module) -> List[nn.Module]:
    """The :func:`is_identity_batchnorm` modules of ``model``, in ``named_modules`` order."""
    return [m for m in model.modules() if is_identity_batchnorm(m)]


def calibrate_folded_batchnorms(model: nn.Module, batches: Iterable, forward) -> int:
    """Set every identity BN of ``model`` from the statistics of its input (see the module docstring).

    Args:
        model: the detector (not a DDP wrapper); put in evaluation mode for the measurement, then back in the
            mode it had.
        batches: what ``forward`` takes, one item per forward pass.
        forward: ``forward(model, batch)`` runs the network on one batch (e.g. the data preprocessor, then
            ``model(..., mode='tensor')``).

    Under ``torch.distributed`` the sums are added over the ranks, so every rank sets the same values.

    Returns:
        the number of BNs set (0 when the model has no identity BN: nothing is run).
    """
    targets = identity_batchnorms(model)
    if not targets:
        return 0
    sums = {id(m): [0.0, 0.0, 0] for m in targets}

    def record(module, args):
        x = args[0].detach().to(torch.float64)
        dims = [d for d in range(x.dim()) if d != 1]  # (N, C, H, W): per channel
        acc = sums[id(module)]
        acc[0] = acc[0] + x.sum(dims)
        acc[1] = acc[1] + (x * x).sum(dims)
        acc[2] += x.numel() // x.shape[1]

    handles = [m.register_forward_pre_hook(record) for m in targets]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                forward(model, batch)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    distributed = torch_dist.is_available() and torch_dist.is_initialized() and torch_dist.get_world_size() > 1
    with torch.no_grad():
        for m in targets:
            total, total_sq, count = sums[id(m)]
            if count == 0:
                raise RuntimeError('calibrate_folded_batchnorms: a BatchNorm of the model received no input; '
                                   'the forward does not run the whole network')
            stats = torch.cat([total, total_sq, torch.tensor([float(count)], dtype=torch.float64)])
            if distributed:
                torch_dist.all_reduce(stats)
            channels = m.num_features
            count = stats[-1]
            mean = stats[:channels] / count
            var = (stats[channels:2 * channels] / count - mean * mean).clamp_(min=0.0)
            m.running_mean.copy_(mean.to(m.running_mean.dtype))
            m.running_var.copy_(var.to(m.running_var.dtype))
            m.bias.add_(mean.to(m.bias.dtype))
            m.weight.copy_((m.running_var.to(torch.float64) + m.eps).sqrt().to(m.weight.dtype))
    return len(targets)


@HOOKS.register_module()
class FoldedBNCalibrationHook(Hook):
    """Before the first training iteration, :func:`calibrate_folded_batchnorms` on ``num_batches`` batches of the
    training dataloader: the identity BNs of a converted BN-folded release (``load_from``) get statistics of the
    training data, and the model's evaluation-mode output is unchanged. A resumed run, or a model without identity
    BNs, is left as it is.

    Args:
        num_batches: training batches to measure (more: closer to the statistics training then sees).
    """
    priority = 'HIGH'

    def __init__(self, num_batches: int = 20):
        if not isinstance(num_batches, int) or isinstance(num_batches, bool) or num_batches < 1:
            raise ValueError(f'FoldedBNCalibrationHook: num_batches must be a positive integer, got {num_batches!r}')
        self.num_batches = num_batches

    def before_train(self, runner) -> None:
        if runner.iter > 0:  # resumed: the checkpoint holds the trained BNs
            return
        model = getattr(runner.model, 'module', runner.model)
        if not identity_batchnorms(model):
            runner.logger.info('FoldedBNCalibrationHook: the model has no identity BatchNorm (no BN-folded release '
                               'was loaded): nothing to calibrate')
            return

        def batches():
            for index, data in enumerate(runner.train_dataloader):
                if index >= self.num_batches:
                    return
                yield data

        def forward(net, data):
            data = net.data_preprocessor(data, True)
            net(data['inputs'], data['data_samples'], mode='tensor')

        count = calibrate_folded_batchnorms(model, batches(), forward)
        runner.logger.info(f'FoldedBNCalibrationHook: set {count} identity BatchNorms from the statistics of '
                           f'{self.num_batches} training batches (evaluation-mode output unchanged)')
