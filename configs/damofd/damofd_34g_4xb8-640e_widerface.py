# DamoFD-34G (Liu et al., ICLR 2023): the DDSAR-searched backbone of the released configs/DamoFD/DamoFD_34g.py
# (ResK1KxK1 blocks) on SCRFD's PAFPN (128 channels) + shared GN head (2 x 256, 32 groups), 640 epochs at the
# released lr 0.02. The released PAFPN lists in_channels [192, 488, 624, 816]; its first entry (C2) is unused
# with start_level=1, and C2 of this structure has 224 channels, which is what is written here.
# Published (ly19965/DamoFD README): WIDER FACE val Easy/Medium/Hard 95.63 / 94.80 / 85.08, 34.03 GFLOPs, 6.24M
# parameters at VGA. Counted here (tools/analysis/get_flops.py, 640x480): see the README's DamoFD table.
# The GPU count is not in the released config (8 images per GPU; unverified).
_base_ = '../scrfd/scrfd_2.5g_4xb8-640e_widerface.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='DamoFDNet',
        structure='SuperConvK3BNRELU(3,56,2,2)SuperResK1K3K1(56,224,2,80,5)SuperResK1K3K1(224,488,2,40,6)'
                  'SuperResK1K3K1(488,624,2,72,4)SuperResK1K7K1(624,816,2,24,3)'),
    neck=dict(in_channels=[224, 488, 624, 816], out_channels=128),
    bbox_head=dict(in_channels=128, stacked_convs=2, feat_channels=256,
                   norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)))

optim_wrapper = dict(optimizer=dict(lr=0.02))
