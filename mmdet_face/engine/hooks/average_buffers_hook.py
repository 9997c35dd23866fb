"""Keep every rank's model identical in a distributed training (see :class:`AverageBuffersHook`)."""
import torch
import torch.distributed as torch_dist
from mmengine.hooks import Hook

from mmdet_face.registry import HOOKS


@HOOKS.register_module()
class AverageBuffersHook(Hook):
    """(Named apart from mmengine's ``SyncBuffersHook``, which averages once per epoch.) Average the floating-point
    buffers (BatchNorm running mean / variance) across ranks after every training iteration, so that every rank
    holds the same model: the checkpoint rank 0 writes is the model every rank validates with, and a distributed
    validation gives exactly the AP of a single-process test of that checkpoint.

    mmengine wraps the model in DDP with ``broadcast_buffers=False``, so each rank's BatchNorm statistics follow
    its own half of the data; mmdet's ``SyncNormHook`` averages them only before validation, after the epoch's
    checkpoint is written. The buffers are small next to the gradients DDP already reduces every iteration.
    """
    priority = 'HIGH'  # before CheckpointHook (VERY_LOW) saves in the same after_train_iter / after_train_epoch

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        sync_float_buffers(runner.model)


def sync_float_buffers(model: torch.nn.Module) -> None:
    """Replace every floating-point buffer of ``model`` by its mean over the ranks (one all-reduce)."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()) or torch_dist.get_world_size() == 1:
        return
    module = getattr(model, 'module', model)
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    if not buffers:
        return
    flat = torch.cat([b.detach().reshape(-1).to(torch.float64) for b in buffers])
    torch_dist.all_reduce(flat)
    flat /= torch_dist.get_world_size()
    offset = 0
    for b in buffers:
        n = b.numel()
        b.copy_(flat[offset:offset + n].view_as(b).to(b.dtype))
        offset += n
