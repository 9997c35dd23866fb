"""The configs/damofd models build as SCRFD detectors on DamoFDNet and take a training step (tiny input)."""
import pytest
import torch

from mmdet_face.apis.inference import init_face_detector
from tests.helpers.paths import REPO_ROOT
from tests.models.detectors.test_scrfd_detector import sample

CONFIGS = REPO_ROOT / 'configs' / 'damofd'


@pytest.mark.parametrize('name', ['damofd_0.5g_kps_4xb8-640e_widerface.py', 'damofd_2.5g_4xb8-640e_widerface.py'])
def test_toy_training_step(name):
    torch.manual_seed(0)
    model = init_face_detector(str(CONFIGS / name)).train()
    model.init_weights()
    assert type(model.backbone).__name__ == 'DamoFDNet'
    assert model.neck.in_channels == list(model.backbone.out_channels)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    data = dict(inputs=[torch.randint(0, 255, (3, 96, 128), dtype=torch.uint8)], data_samples=[sample()])
    batch = model.data_preprocessor(data, training=True)
    losses = model.loss(batch['inputs'], batch['data_samples'])
    assert ('loss_kps' in losses) == ('kps' in name)
    total = sum(sum(v) if isinstance(v, list) else v for v in losses.values())
    assert torch.isfinite(total)
    before = [p.detach().clone() for p in model.backbone.parameters()]
    optimizer.zero_grad()
    total.backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    optimizer.step()
    stem = model.backbone.stages[0][0][0].weight
    assert not torch.equal(before[0], stem)
    # the released initialisation starts every residual branch at 0 (last norm weight 0): one step moves them all
    last_norms = [m.branch[-1][1].weight for m in model.backbone.modules() if hasattr(m, 'branch')]
    assert last_norms and all(torch.count_nonzero(w) > 0 for w in last_norms)
