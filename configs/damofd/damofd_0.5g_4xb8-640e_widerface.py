# DamoFD-0.5G (Liu et al., "DamoFD: Digging into Backbone Design on Face Detection", ICLR 2023): the DDSAR-searched
# backbone of the released configs/DamoFD/DamoFD_0.5g.py (inverted depthwise blocks) on SCRFD-0.5GF's PAFPN (16
# channels) + shared depthwise GN head and SCRFD's 640-epoch schedule, with the released 5000-iteration warm-up.
# Published (ly19965/DamoFD README): WIDER FACE val Easy/Medium/Hard 90.32 / 88.36 / 71.03, 0.52 GFLOPs, 0.26M
# parameters at VGA. Counted here (tools/analysis/get_flops.py, 640x480): see the README's DamoFD table.
# The GPU count is not in the released config (8 images per GPU, lr 0.01: SCRFD's 4-GPU setting; unverified).
_base_ = '../scrfd/scrfd_500m_4xb8-640e_widerface.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='DamoFDNet',
        structure='SuperConvK3BNRELU(3,32,2,1)SuperResIDWE1K3(32,32,2,8,1)SuperResIDWE1K7(32,64,2,40,1)'
                  'SuperResIDWE1K7(64,120,2,40,2)SuperResIDWE1K5(120,160,2,120,1)'),
    neck=dict(in_channels=[32, 64, 120, 160], out_channels=16),
    bbox_head=dict(in_channels=16, stacked_convs=2, feat_channels=64, dw_conv=True,
                   norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=5000),
    dict(type='MultiStepLR', begin=0, end=640, by_epoch=True, milestones=[440, 544], gamma=0.1),
]
