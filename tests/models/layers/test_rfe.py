import torch

from mmdet_face.models.layers import RFE


def test_rfe_keeps_spatial_shape_and_sets_channels():
    x = torch.randn(2, 16, 13, 9)
    assert RFE(16)(x).shape == (2, 16, 13, 9)
    assert RFE(16, 32)(x).shape == (2, 32, 13, 9)
    assert len(RFE(16).branches) == 4  # 1x3, 3x1, 1x5, 5x1


def test_rfe_receptive_field_is_a_cross_of_rectangles():
    """Gradient footprint of one output pixel: a 5-wide horizontal and a 5-tall vertical bar through it, nothing
    on the diagonals (no branch is square)."""
    torch.manual_seed(0)
    rfe = RFE(8)
    with torch.no_grad():  # positive weights and input: every ReLU passes, so the footprint is the support
        for p in rfe.parameters():
            p.fill_(0.1)
    x = torch.rand(1, 8, 15, 15, requires_grad=True) + 0.1
    x.retain_grad()
    rfe(x)[0, :, 7, 7].sum().backward()
    footprint = x.grad[0].abs().sum(0) > 0
    expected = torch.zeros(15, 15, dtype=torch.bool)
    expected[7, 5:10] = True
    expected[5:10, 7] = True
    assert torch.equal(footprint, expected)

