# AInnoFace, ResNet-152 (Zhang et al., 2019, arXiv 1905.01585): SRN (two-step classification and regression,
# RFE) + the UnitBox IoU loss in the second step + max-out background labels on the small-anchor levels +
# PyramidBox's data-anchor-sampling. "unverified" / "paper silent" as in ../srn/srn_r50_fpn_4xb8-130e_widerface.py;
# everything not overridden here (anchors, assigners, schedule, photometric augmentation) is SRN's. Only the
# AInnoFace abstract was checked; values from the rest of the paper are unverified. The abstract: "we start from the
# popular one-stage RetinaNet [20] ... apply the Intersection over Union (IoU) loss function [45] for regression,
# employ the two-step classification and regression [4] (SRN) ..., revisit the data augmentation based on
# data-anchor-sampling [32] (PyramidBox) ..., utilize the max-out operation [54] (S3FD) for classification and use
# the multi-scale testing strategy [54]". How AInnoFace "revisits" data-anchor-sampling is not in the abstract: we
# use PyramidBox's rule as published (see below). No parameter counts or FLOPs in the abstract.
_base_ = ['../srn/srn_r50_fpn_4xb8-130e_widerface.py']

model = dict(
    # AInnoFace's backbone: ResNet-152 (ImageNet), unverified: the abstract does not name it
    backbone=dict(depth=152, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet152')),
    bbox_head=dict(
        # IoU loss for the second-step regression. The abstract cites "[45]"; its references are numbered
        # alphabetically ([4] Chi, [20] Lin, [32] Tang, [43] Yang, [54] Zhang), so [45] falls between Yang and
        # Zhang: Yu et al., UnitBox (ACM MM 2016), whose IoU loss is -ln(IoU) = mmdet IoULoss(mode='log')
        # (mmdet 3.3: iou_loss() returns -log(IoU.clamp(min=eps)), eps 1e-6). Identifying [45] is our inference
        # from the numbering (unverified). It needs boxes, not deltas: reg_decoded_bbox=True makes SRNHead decode the
        # second-step deltas on the refined anchors and pass (x1, y1, x2, y2) boxes with the matched gt boxes.
        # Weight 1: unverified.
        # GIoU / DIoU instead (one line, on the command line; `_delete_` drops mode='log', which they do not take):
        #   --cfg-options model.bbox_head.loss_bbox._delete_=True model.bbox_head.loss_bbox.type=GIoULoss \
        #       model.bbox_head.loss_bbox.loss_weight=1.0          (or type=DIoULoss)
        # or in a child config: model = dict(bbox_head=dict(loss_bbox=dict(_delete_=True, type='GIoULoss')))
        reg_decoded_bbox=True,
        loss_bbox=dict(_delete_=True, type='IoULoss', mode='log', eps=1e-6, loss_weight=1.0),
        # first step keeps SRN's smooth L1 on deltas (AInnoFace changes only the final regression; our reading)
        loss_bbox_first=dict(type='SmoothL1Loss', beta=0.11, loss_weight=1.0),
        # max-out background label, cited to S3FD [54] ("max-out operation ... for classification", abstract);
        # S3FD applies it to its lowest (smallest-anchor) layer with N_m = 3 -> P2 only, 3 background logits.
        # Levels / N_m for AInnoFace itself: unverified, S3FD's choice used
        maxout_levels=(0,), maxout_channels=3))

# Data-anchor-sampling (PyramidBox, Tang et al., ECCV 2018, Sec. 3.3): rescale the image so that one random face of
# size s_face = sqrt(w h) gets a random size s_target ~ U[s_i / 2, 2 s_i], i uniform in {0, ..., min(5, i_anchor +
# 1)} over the anchor scales s_i = 16 .. 512 (i_anchor: the scale nearest to s_face), then crop a training-size
# patch around that face (mmdet_face/datasets/transforms/data_anchor_sampling.py). PyramidBox mixes it with its
# usual crop: probability 0.5 each in the authors' release (PaddlePaddle/models fluid/face_detection/reader.py,
# data_anchor_sampling_prob = 0.5); AInnoFace's own probability is unverified, so 0.5 with SRN's square crop as
# the other branch. The mix is mmcv's RandomChoice (both branches visible in the config, no hidden fallback in the
# transform). Anchor scales are PyramidBox's (its anchors, 16..512), not ours (2S / 2.83S for strides 4..128 ->
# 8..362): what matters is the spread of face sizes, and PyramidBox's range covers all our levels. pad_val 128 as
# the square crop (the release pads 0). Crop size 1024 = SRN's training size, so the FaceResize below is a no-op for
# this branch.
image_size = 1024
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadFaceAnnotations'),
    dict(type='RandomChoice', prob=[0.5, 0.5],
         transforms=[[dict(type='DataAnchorSampling', crop_size=image_size, anchor_scales=(16, 32, 64, 128, 256, 512),
                           pad_val=128)],
                     [dict(type='RandomSquareCrop', crop_choice=[0.3, 0.45, 0.6, 0.8, 1.0])]]),
    # SRN's: resize to 1024 x 1024, flip, photometric distortion
    dict(type='FaceResize', scale=(image_size, image_size), keep_ratio=False),
    dict(type='FaceRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackFaceInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
