# SCRFD-0.5GF network: MobileNetV1 + PAFPN + shared depthwise GN head.
_base_ = ['./scrfd_2.5g.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV1',
        block_cfg=dict(stage_blocks=(2, 3, 2, 6), stage_planes=[16, 16, 40, 72, 152, 288])),
    neck=dict(in_channels=[40, 72, 152, 288], out_channels=16),
    bbox_head=dict(
        in_channels=16,
        stacked_convs=2,
        feat_channels=64,
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True),
        dw_conv=True))
