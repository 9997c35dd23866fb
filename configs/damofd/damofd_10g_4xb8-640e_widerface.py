# DamoFD-10G (Liu et al., ICLR 2023): the DDSAR-searched backbone of the released configs/DamoFD/DamoFD_10g.py
# (ResK1KxK1 / ResKxKx blocks) on SCRFD's PAFPN (56 channels) + shared GN head (3 x 80) and 640-epoch schedule.
# Published (ly19965/DamoFD README): WIDER FACE val Easy/Medium/Hard 95.14 / 94.29 / 84.07, 9.74 GFLOPs, 1.27M
# parameters at VGA. Counted here (tools/analysis/get_flops.py, 640x480): see the README's DamoFD table.
# The GPU count is not in the released config (8 images per GPU, lr 0.01: SCRFD's 4-GPU setting; unverified).
_base_ = '../scrfd/scrfd_2.5g_4xb8-640e_widerface.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='DamoFDNet',
        structure='SuperConvK3BNRELU(3,56,2,2)SuperResK1K3K1(56,80,2,40,5)SuperResK1K5K1(80,112,2,32,5)'
                  'SuperResK1K3K1(112,168,2,16,4)SuperResK7K7(168,256,2,8,1)'),
    neck=dict(in_channels=[80, 112, 168, 256], out_channels=56),
    bbox_head=dict(in_channels=56, stacked_convs=3, feat_channels=80,
                   norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)))
