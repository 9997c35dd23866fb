# SCRFD-1GF: MobileNetV1 + PAFPN + shared depthwise GN head. 0.64M parameters, 1.03 GFLOPs at VGA.
_base_ = './scrfd_500m_4xb8-640e_widerface.py'

model = dict(
    backbone=dict(block_cfg=dict(stage_blocks=(3, 2, 1, 5), stage_planes=[32, 48, 48, 160, 216, 312])),
    neck=dict(in_channels=[48, 160, 216, 312], out_channels=24),
    bbox_head=dict(
        in_channels=24,
        stacked_convs=2,
        feat_channels=96,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True)))
