# SCRFD-10GF: 3.86M parameters, 9.98 GFLOPs at VGA.
_base_ = './scrfd_2.5g_4xb8-640e_widerface.py'

model = dict(
    backbone=dict(
        block_cfg=dict(block='BasicBlock', stage_blocks=(3, 4, 2, 3), stage_planes=[56, 88, 88, 224]),
        base_channels=56),
    neck=dict(in_channels=[56, 88, 88, 224], out_channels=56),
    bbox_head=dict(
        in_channels=56,
        stacked_convs=3,
        feat_channels=80,
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)))
