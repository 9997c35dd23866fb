# AInnoFace, ResNet-152 (Zhang et al., 2019, arXiv 1905.01585): SRN (two-step classification and regression,
# RFE) + an IoU-family box loss in the second step + max-out background labels on the small-anchor levels.
# "as recalled" / "paper silent" as in ../srn/srn_r50_fpn_4xb8-130e_widerface.py; everything not overridden here
# (anchors, assigners, schedule, augmentation) is SRN's. Only the AInnoFace abstract could be read (stored copies
# of arXiv 1905.01585 stop after the opening): "we start from the popular one-stage RetinaNet [20] ... apply the
# Intersection over Union (IoU) loss function [45] for regression, employ the two-step classification and
# regression [4] (SRN) ..., revisit the data augmentation based on data-anchor-sampling [32] (PyramidBox) ...,
# utilize the max-out operation [54] (S3FD) for classification and use the multi-scale testing strategy [54]".
# Not reproduced: data-anchor-sampling (no such transform here; SRN's square crop is used) -- reported to lead.
# No parameter counts or FLOPs in the readable text.
_base_ = ['../srn/srn_r50_fpn_4xb8-130e_widerface.py']

model = dict(
    # AInnoFace's backbone: ResNet-152 (ImageNet) -- as recalled; the abstract does not name it
    backbone=dict(depth=152, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet152')),
    bbox_head=dict(
        # IoU loss for the second-step regression. The abstract cites "[45]"; its references are numbered
        # alphabetically ([4] Chi, [20] Lin, [32] Tang, [43] Yang, [54] Zhang), so [45] falls between Yang and
        # Zhang -- most likely Yu et al.'s UnitBox IoU loss (-ln IoU = mmdet IoULoss(mode='log')), not GIoU
        # (Rezatofighi would sit near [30]). Inference, not read: GIoU kept until the lead decides
        # (tests/models/test_srn_configs.py asserts GIoULoss). Weight 1: paper text not readable.
        reg_decoded_bbox=True,
        loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=1.0),
        # first step keeps SRN's smooth L1 on deltas (AInnoFace changes only the final regression; our reading)
        loss_bbox_first=dict(type='SmoothL1Loss', beta=0.11, loss_weight=1.0),
        # max-out background label, cited to S3FD [54] ("max-out operation ... for classification", abstract);
        # S3FD applies it to its lowest (smallest-anchor) layer with N_m = 3 -> P2 only, 3 background logits.
        # Levels / N_m for AInnoFace itself: not readable, S3FD's choice used
        maxout_levels=(0,), maxout_channels=3))
