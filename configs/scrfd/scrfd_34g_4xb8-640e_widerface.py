# SCRFD-34GF: ResNetV1e with Bottlenecks. 9.80M parameters, 34.13 GFLOPs at VGA.
_base_ = './scrfd_2.5g_4xb8-640e_widerface.py'

model = dict(
    backbone=dict(
        block_cfg=dict(block='Bottleneck', stage_blocks=(17, 16, 2, 8), stage_planes=[56, 56, 144, 184]),
        base_channels=56),
    neck=dict(in_channels=[224, 224, 576, 736], out_channels=128),
    bbox_head=dict(
        in_channels=128,
        stacked_convs=2,
        feat_channels=256,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)))
