"""SRNFPN: output order, shapes, and the lateral / top-down / extra-level arithmetic on hand-set weights."""
import pytest
import torch

from mmdet_face.models.necks import SRNFPN


def test_srn_fpn_returns_c2_c7_then_p2_p7():
    neck = SRNFPN([8, 16, 32, 64], out_channels=8, extra_channels=(32, 8))
    feats = [torch.randn(1, c, 64 // 2 ** i, 64 // 2 ** i) for i, c in enumerate([8, 16, 32, 64])]
    outs = neck(feats)
    sizes = [64, 32, 16, 8, 4, 2]  # strides 4, 8, ..., 128 of a 256-pixel input: C2..C7, then P2..P7
    assert [o.shape[-1] for o in outs] == sizes + sizes
    assert [o.shape[-2] for o in outs] == sizes + sizes
    assert all(o.shape[:2] == (1, 8) for o in outs)


def set_conv(module, weight, bias=0.0):
    conv = module.conv
    with torch.no_grad():
        conv.weight.fill_(weight)
        conv.bias.fill_(bias)


def set_identity(module):
    """3x3 conv that copies its input: centre tap, channel i -> channel i."""
    conv = module.conv
    with torch.no_grad():
        conv.weight.zero_()
        for c in range(conv.out_channels):
            conv.weight[c, c, 1, 1] = 1.0
        conv.bias.zero_()


def tiny_neck(upsample_mode='bilinear'):
    # C2..C4 one channel, C5 two; head width 2; C6, C7 one channel each
    neck = SRNFPN([1, 1, 1, 2], out_channels=2, extra_channels=(1, 1), upsample_mode=upsample_mode)
    for m in neck.first_step_convs:
        set_conv(m, 2.0)       # first-step maps: 2 x channel sum
    for m in neck.lateral_convs:
        set_conv(m, 1.0)       # laterals: channel sum
    for m in neck.fpn_convs:
        set_identity(m)        # P_l = top-down sum
    for m in list(neck.extra_convs) + list(neck.extra_fpn_convs):
        set_conv(m, 1.0)       # sum over the 3x3 window and the channels
    neck.eval()
    return neck


def inputs():
    c2 = torch.full((1, 1, 16, 16), 1.0)
    c3 = torch.full((1, 1, 8, 8), 10.0)
    c4 = torch.full((1, 1, 4, 4), 100.0)
    c5 = torch.empty(1, 2, 2, 2)
    c5[0, 0] = torch.tensor([[0.0, 3.0], [0.0, 3.0]])  # a ramp in x: 3 x (x / (W - 1)) at every level
    c5[0, 1] = 1000.0
    return [c2, c3, c4, c5]


def ramp(base, width):
    """(1, 2, W, W) map: ``base + 3 * x / (W - 1)`` in both channels (constant along y)."""
    x = torch.arange(width, dtype=torch.float32)
    row = base + 3.0 * x / max(width - 1, 1)
    return row.expand(width, width).expand(1, 2, width, width)


def test_srn_fpn_arithmetic_on_hand_set_weights():
    with torch.no_grad():
        outs = tiny_neck()(inputs())
    assert len(outs) == 12
    sizes = [16, 8, 4, 2, 1, 1]
    assert [tuple(o.shape) for o in outs] == [(1, 2, s, s) for s in sizes + sizes]
    c2, c3, c4, c5, c6, c7, p2, p3, p4, p5, p6, p7 = outs

    # first step: 2 x the channel sum of C2..C5
    assert torch.equal(c2, torch.full_like(c2, 2.0))
    assert torch.equal(c3, torch.full_like(c3, 20.0))
    assert torch.equal(c4, torch.full_like(c4, 200.0))
    assert torch.equal(c5, ramp(1000.0, 2) * 2)  # 2 x (1000 + 3x): [[2000, 2006], [2000, 2006]]
    # C6: 3x3 stride-2 window (padding 1) over the 2x2 C5, both channels: 0 + 3 + 0 + 3 + 4 x 1000 = 4006;
    # C7: on the 1x1 C6 only the centre tap sees data: 4006. First-step convs double both.
    assert c6.flatten().tolist() == [8012.0, 8012.0]
    assert c7.flatten().tolist() == [8012.0, 8012.0]

    # top-down: P5 = L5; P4 = L4 + up(P5); ... bilinear with align_corners keeps the ramp linear, spanning 0..3
    # across every level: P_l = sum of the constant laterals from l up + 3 x / (W_l - 1)
    assert torch.allclose(p5, ramp(1000.0, 2))
    assert torch.allclose(p4, ramp(1100.0, 4))           # 1100, 1101, 1102, 1103
    assert torch.allclose(p3, ramp(1110.0, 8))           # 1110 + 3x / 7
    assert torch.allclose(p2, ramp(1111.0, 16))          # 1111 + x / 5
    assert p2[0, 0, 3].tolist() == pytest.approx([1111.0 + x / 5 for x in range(16)])
    # P6 from C5's lateral (not from C6): 2 channels x (1000 + 1003 + 1000 + 1003) = 8012; P7 = 2 x 8012
    assert p6.flatten().tolist() == [8012.0, 8012.0]
    assert p7.flatten().tolist() == [16024.0, 16024.0]


def test_srn_fpn_nearest_upsampling_repeats_pixels():
    with torch.no_grad():
        outs = tiny_neck('nearest')(inputs())
    p4, p3 = outs[8], outs[7]
    assert p4[0, 0, 0].tolist() == [1100.0, 1100.0, 1103.0, 1103.0]
    assert p3[0, 1, 5].tolist() == [1110.0] * 4 + [1113.0] * 4
