import pytest
import torch

from mmdet_face.models.backbones import MobileNetV1, ResNetV1e


def test_mobilenet_v1_shapes_and_names():
    model = MobileNetV1(block_cfg=dict(stage_blocks=(2, 3, 2, 6), stage_planes=[16, 16, 40, 72, 152, 288]))
    outs = model(torch.zeros(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, 40, 16, 24), (1, 72, 8, 12), (1, 152, 4, 6), (1, 288, 2, 3)]
    assert model.out_channels == (40, 72, 152, 288)
    # SCRFD checkpoint layout: stem conv+BN, then dw (0,1) / pw (3,4) convs in each block
    keys = set(model.state_dict())
    assert {'stem.0.0.weight', 'stem.1.3.weight', 'layer4.5.4.running_var'} <= keys
    assert len(model.layer4) == 6


def test_mobilenet_v1_out_indices_and_bad_cfg():
    model = MobileNetV1(out_indices=(1, 3))
    outs = model(torch.zeros(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [64, 256]
    with pytest.raises(ValueError):
        MobileNetV1(block_cfg=dict(stage_blocks=(1, 1, 1), stage_planes=[8] * 6))


@pytest.mark.parametrize('block,planes,expansion', [('BasicBlock', [24, 48, 48, 80], 1),
                                                    ('Bottleneck', [8, 8, 16, 16], 4)])
def test_resnet_v1e_shapes(block, planes, expansion):
    model = ResNetV1e(block_cfg=dict(block=block, stage_blocks=(2, 1, 1, 1), stage_planes=planes),
                      base_channels=planes[0])
    outs = model(torch.zeros(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, p * expansion, 64 // 2**(i + 2), 64 // 2**(i + 2))
                                              for i, p in enumerate(planes)]
    assert model.out_channels == tuple(p * expansion for p in planes)


def test_resnet_v1e_stem_and_avg_down():
    model = ResNetV1e(block_cfg=dict(block='BasicBlock', stage_blocks=(1, 1, 1, 1), stage_planes=[24, 48, 48, 80]),
                      base_channels=24)
    # deep stem: 3 convs 3->12->12->24, then a 2x2 max-pool (V1e) instead of ResNet's 3x3
    convs = [m for m in model.stem if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [(3, 12, 2), (12, 12, 1), (12, 24, 1)]
    assert model.maxpool.kernel_size == 2
    # stride-2 shortcut: 2x2 average pool then a stride-1 1x1 conv
    down = model.layer2[0].downsample
    assert isinstance(down[0], torch.nn.AvgPool2d) and down[0].kernel_size == 2 and down[1].stride == (1, 1)


def test_resnet_v1e_frozen_and_norm_eval():
    model = ResNetV1e(block_cfg=dict(block='BasicBlock', stage_blocks=(1, 1, 1, 1), stage_planes=[8, 8, 8, 8]),
                      base_channels=8, frozen_stages=1, norm_eval=True)
    model.train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.layer3[0].bn1.training
