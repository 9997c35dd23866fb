# DSFD-ResNet-152 for training: the released network (./dsfd_r152.py, the second shot) plus what the paper trains
# and the release does not ship (Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019):
#   - the first shot (Sec. 3.3, "Progressive Anchor Loss"): per-level branches of the second shot's structure with
#     their own weights on the *original* levels of_1..of_6 (the backbone's six outputs, before the top-down
#     product and FEM), with anchors half the second shot's: 8..256 (Sec. 3.4 / Table 1). Training only: forward,
#     predict, ONNX export and published checkpoints are second shot only
#     (tools/model_converters/dsfd_publish.py drops the first-shot weights);
#   - the loss of each shot (mmdet_face/models/utils/ssd_multibox.py), PAL = first + lambda * second.
# Used by ../../dsfd/dsfd_r152_4xb4-60k_widerface.py, its R50 variant and ../../toy/dsfd_toy.py.
_base_ = './dsfd_r152.py'

model = dict(
    backbone=dict(
        # paper Sec. 4.1: ImageNet-pretrained backbone ("torchvision ResNet-152": the release's layout). BN in
        # eval mode (norm_eval=True, set in ./dsfd_r152.py) is our choice: batch 4 per GPU is too small for BN
        # statistics (the release's training loop is not public)
        backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet152'))),
    # paper Sec. 4.1: "the newly added layers are initialised with xavier"
    neck=dict(init_cfg=dict(type='Xavier', layer='Conv2d', distribution='uniform')),
    bbox_head=dict(
        init_cfg=dict(type='Xavier', layer='Conv2d', distribution='uniform'),
        first_shot=dict(
            # the original levels: ResNet-152 C2..C5 + the two extra blocks (release output_channels)
            in_channels=[256, 512, 1024, 2048, 512, 256],
            # paper Table 1 / Sec. 3.4: first-shot anchors are half the second shot's, 8..256, same 1.5 ratio and
            # strides; the release's clamp kept (a no-op at 640 x 640 training size)
            prior_generator=dict(
                type='DSFDPriorGenerator', strides=[4, 8, 16, 32, 64, 128], base_sizes=[8, 16, 32, 64, 128, 256],
                ratio=1.5, clip=True),
            # the paper does not describe the first-shot heads: our choice is the second shot's structure
            # (3 convs + 1x1, max-in-out), so the two shots differ only in their inputs and anchors
            max_in_out=True),
        # release multibox_loss.py: negpos_ratio 3
        neg_pos_ratio=3,
        # release multibox_loss.py: F.smooth_l1_loss (beta 1), summed and divided by the positives; the paper's
        # beta (Eq. 2) has no published value: 1
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0),
        # paper Eq. 4 (arXiv v3): L = L_FSL + lambda * L_SSL; lambda has no published value and v1 has none: 1
        second_shot_weight=1.0),
    train_cfg=dict(
        # release layers/box_utils.py match(): IoU >= 0.4 positive, below background, each face's best prior
        # forced positive (the later face wins a shared prior, as in the release's loop); paper Sec. 3.4: 0.4.
        # ignore_iof_thr: our choice, priors inside WIDER's ignore boxes are neither positive nor negative (the
        # release has no ignore boxes)
        _delete_=True,  # the released model's train_cfg is None
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.4, neg_iou_thr=0.4, min_pos_iou=0.0,
                      gt_max_assign_all=False, ignore_iof_thr=0.5)))
