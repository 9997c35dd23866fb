import torch

from mmdet_face.models.necks import SRNFPN


def test_srn_fpn_returns_c2_c7_then_p2_p7():
    neck = SRNFPN([8, 16, 32, 64], out_channels=8, extra_channels=(32, 8))
    feats = [torch.randn(1, c, 64 // 2 ** i, 64 // 2 ** i) for i, c in enumerate([8, 16, 32, 64])]
    outs = neck(feats)
    sizes = [64, 32, 16, 8, 4, 2]
    assert [o.shape[-1] for o in outs] == sizes + sizes
    assert all(o.shape[:2] == (1, 8) for o in outs)
