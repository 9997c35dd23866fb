# SRN network, ResNet-50 (Chi et al., AAAI 2019, arXiv 1809.02693). Sources ("unverified", "paper silent",
# "release", "re-implementation"): see ../../srn/srn_r50_fpn_4xb8-130e_widerface.py, which uses it with
# ../../toy/srn_toy.py.
model = dict(
    type='SRN',
    # ImageNet-pretrained ResNet-50 (Sec. 4.1, unverified); release tools/test.py preprocess(): BGR->RGB,
    # ToTensor, Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]) = these values x 255
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=128),  # divisor 128 = coarsest stride (P7)
    backbone=dict(type='mmdet.ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
                  norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True, style='pytorch',
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    # Sec. 3.1: 6-level pyramid P2-P7 (strides 4..128), extra C6/C7 by stride-2 3x3 convs on C5; widths of
    # C6/C7 (1024, 256) and bilinear top-down: release
    neck=dict(type='SRNFPN', in_channels=[256, 512, 1024, 2048], out_channels=256, extra_channels=(1024, 256),
              upsample_mode='bilinear'),
    bbox_head=dict(
        type='SRNHead', num_classes=1, in_channels=256, feat_channels=256,
        tower=('conv', 'rfe', 'conv'),  # Sec. 3.3 / Fig. 3 RFE; its place between two 3x3 convs: release
        share_step_predictors=True,  # release: one head (towers + 1x1 predictors) applied to both steps
        pred_kernel_size=1,  # release
        stc_levels=(0, 1, 2),  # Sec. 3.2 STC: the three lower levels P2-P4 (release: multi_cls_levels)
        str_levels=(3, 4, 5),  # Sec. 3.2 STR: the three higher levels P5-P7 (release: multi_reg_levels)
        stc_threshold=0.99,  # Sec. 3.2: background threshold theta = 0.99 (release keeps first-step p > 0.01)
        # Sec. 3.4 anchors: two scales 2S and 2*sqrt(2)S per level (stride S), one aspect ratio 1.25 (h/w);
        # confirmed by release config.json: "anchor_scales": [2, 2.828427], "anchor_ratios": [1.25],
        # "anchor_stride": 4
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=2, scales_per_octave=2, ratios=[1.25],
                              strides=[4, 8, 16, 32, 64, 128]),
        # release srn/utils/bbox_helper.py compute_loc_bboxes decodes raw deltas with no variances
        # (cx = dx * w + cx_a, w = exp(dw) * w_a), i.e. stds 1 as in RetinaNet (was 0.1/0.2, SSD-style: changed)
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                        target_stds=[1.0, 1.0, 1.0, 1.0]),
        # Sec. 3.2 (unverified): focal loss in both steps; sigmoid confirmed by release config.json
        # "cls_loss_type": "sigmoid_focal_loss"; alpha/gamma are RetinaNet's (release and abstract silent;
        # the re-implementation uses the same alpha 0.25, gamma 2.0)
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        # Sec. 3.2 (unverified): smooth L1 in both steps, unit weights (L = L_STC + L_STR); beta 0.11 is
        # RetinaNet's (silent; consistent with the unnormalised deltas above)
        loss_bbox=dict(type='SmoothL1Loss', beta=0.11, loss_weight=1.0)),
    train_cfg=dict(
        # Sec. 3.4 (unverified; matches an independent re-implementation's training config:
        # fs_pos/neg_overlap 0.7/0.3, ss_pos/neg_overlap 0.5/0.4): first step IoU >= 0.7 positive, < 0.3
        # negative; second step >= 0.5 / < 0.4 (the release has no training code to confirm)
        # match_low_quality / min_pos_iou: paper silent; kept so every face gets at least one anchor
        assigner_first=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.,
                            ignore_iof_thr=0.5),  # ignore_iof_thr: WIDER ignore boxes, our choice
        assigner_second=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0.,
                             ignore_iof_thr=0.5),
        allowed_border=-1),
    # release config.json test_rpn_proposal_cfg: "score_thresh": 0.05 (rpn_proposal.py uses 0.0 on maps with
    # K < 120 cells; not reproduced), "top_n_per_level": 6000, "nms_iou_thresh": 0.4, "top_n": 750; the STC
    # filter keeps first-step p > 0.01 (rpn_proposal.py) = stc_threshold 0.99 above.
    # Test protocol of the release (tools/test.py, README): multi-scale + flip, views capped at max_size^2 pixels
    # (1400: 96.5/95.2/89.6, 2100: 96.5/95.3/90.2 Easy/Medium/Hard val), box voting at IoU 0.5, top 750:
    #   tools/test_widerface.py CONFIG CKPT --tta --tta-scales 0.5 1 1.5 2.25 3.375 16 --tta-merge vote
    #       --tta-iou 0.5 --max-size 1400
    test_cfg=dict(nms_pre=6000, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.4), max_per_img=750))
