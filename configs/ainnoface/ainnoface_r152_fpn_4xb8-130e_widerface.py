# AInnoFace, ResNet-152 (Zhang et al., 2019, arXiv 1905.01585): SRN (two-step classification and regression,
# RFE) + an IoU-family box loss in the second step + max-out background labels on the small-anchor levels.
# "as recalled" / "paper silent" as in ../srn/srn_r50_fpn_4xb8-130e_widerface.py; everything not overridden here
# (anchors, assigners, schedule, augmentation) is SRN's, which AInnoFace states it follows.
_base_ = ['../srn/srn_r50_fpn_4xb8-130e_widerface.py']

model = dict(
    # AInnoFace's backbone: ResNet-152 (ImageNet)
    backbone=dict(depth=152, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet152')),
    bbox_head=dict(
        # IoU loss for the second-step regression (AInnoFace Sec. 3, "IoU loss"): GIoU here; set
        # loss_bbox=dict(_delete_=True, type='DIoULoss', loss_weight=1.0) for DIoU. Weight 1: paper silent.
        reg_decoded_bbox=True,
        loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=1.0),
        # first step keeps SRN's smooth L1 on deltas (AInnoFace changes only the final regression; our reading)
        loss_bbox_first=dict(type='SmoothL1Loss', beta=0.11, loss_weight=1.0),
        # max-out background label (from S3FD) on the smallest anchors: P2 only, 3 background logits (S3FD's
        # N_m = 3); which levels and N_m: our choice, AInnoFace only says "small anchors"
        maxout_levels=(0,), maxout_channels=3))
