# DamoFD-2.5G (Liu et al., ICLR 2023): the DDSAR-searched backbone of the released configs/DamoFD/DamoFD_2.5g.py
# (ResKxKx / ResK1KxK1 blocks) on SCRFD's PAFPN (24 channels) + shared GN head (2 x 64) and 640-epoch schedule.
# Published (ly19965/DamoFD README): WIDER FACE val Easy/Medium/Hard 92.82 / 91.48 / 78.70, 2.46 GFLOPs, 0.44M
# parameters at VGA. Counted here (tools/analysis/get_flops.py, 640x480): see the README's DamoFD table.
# The GPU count is not in the released config (8 images per GPU, lr 0.01: SCRFD's 4-GPU setting; unverified).
_base_ = '../scrfd/scrfd_2.5g_4xb8-640e_widerface.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='DamoFDNet',
        structure='SuperConvK3BNRELU(3,24,2,2)SuperResK3K3(24,32,2,24,4)SuperResK3K3(32,56,2,16,4)'
                  'SuperResK5K5(56,88,2,8,5)SuperResK1K5K1(88,128,2,8,4)'),
    neck=dict(in_channels=[32, 56, 88, 128], out_channels=24),
    bbox_head=dict(in_channels=24, stacked_convs=2, feat_channels=64,
                   norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)))
