"""Resume on torch >= 2.6 (weights_only loading) without switching the safe loader off."""
import io
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmdet_face.compat  # noqa: F401


class _LinearModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        out = self.linear(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((out - targets) ** 2).mean())
        return out


class _SumData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        x = torch.randn(2, generator=torch.Generator().manual_seed(i))
        return dict(inputs=x, targets=x.sum())


def _runner(work_dir, max_epochs, resume):
    return Runner(
        model=_LinearModel(), work_dir=str(work_dir), resume=resume, randomness=dict(seed=0),
        train_dataloader=dict(dataset=_SumData(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)))


def test_resume_with_weights_only_loading(tmp_path):
    _runner(tmp_path, 2, False).train()
    ckpt = torch.load(tmp_path / 'epoch_2.pth', map_location='cpu', weights_only=True)
    assert isinstance(ckpt['message_hub']['log_scalars']['train/lr'], HistoryBuffer)
    runner = _runner(tmp_path, 3, True)
    runner.train()
    assert runner.epoch == 3 and runner.iter == 6  # continued from epoch 2 (4 iterations), not from scratch


def test_history_buffer_round_trip_keeps_statistics():
    buf = HistoryBuffer()
    for v in (3.0, 1.0, 2.0):
        buf.update(v)
    data = io.BytesIO()
    torch.save({'buf': buf}, data)
    data.seek(0)
    loaded = torch.load(data, weights_only=True)['buf']
    assert loaded.min() == 1.0 and loaded.max() == 3.0 and loaded.current() == 2.0 and loaded.mean() == 2.0


def test_arbitrary_globals_still_refused():
    class Evil:
        def __reduce__(self):
            return (getattr, (int, 'real'))

    data = io.BytesIO()
    torch.save({'x': Evil()}, data, pickle_module=pickle)
    data.seek(0)
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        torch.load(data, weights_only=True)
