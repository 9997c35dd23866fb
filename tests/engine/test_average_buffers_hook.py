"""AverageBuffersHook lives with the other hooks and keeps its registered name (train.py adds it by name)."""
import torch

import mmdet_face.all_modules  # noqa: F401
from mmdet_face.engine import dist
from mmdet_face.engine.hooks import AverageBuffersHook, sync_float_buffers
from mmdet_face.registry import HOOKS


def test_registered_name_builds_the_hook_from_engine_hooks():
    hook = HOOKS.build(dict(type='AverageBuffersHook'))
    assert type(hook) is AverageBuffersHook
    assert type(hook).__module__ == 'mmdet_face.engine.hooks.average_buffers_hook'
    assert not hasattr(dist, 'AverageBuffersHook')  # the launch module holds no hook


def test_without_a_process_group_buffers_stay_as_they_are():
    bn = torch.nn.BatchNorm1d(3)
    bn.running_mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
    sync_float_buffers(bn)
    assert bn.running_mean.tolist() == [1.0, 2.0, 3.0]
    assert bn.num_batches_tracked.item() == 0
