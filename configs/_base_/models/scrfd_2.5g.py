# SCRFD-2.5GF network: ResNetV1e (BasicBlock) + PAFPN + shared GN head, no keypoints (Guo et al., ICLR 2022).
# The other SCRFD networks (./scrfd_500m.py ...) and ../../scrfd/*.py build on it.
model = dict(
    type='SCRFD',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[127.5, 127.5, 127.5],
        std=[128.0, 128.0, 128.0],
        # SCRFD normalised with to_rgb=True after loading BGR images: the released models expect RGB.
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNetV1e',
        depth=0,
        block_cfg=dict(block='BasicBlock', stage_blocks=(3, 5, 3, 2), stage_planes=[24, 48, 48, 80]),
        base_channels=24,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch'),
    neck=dict(
        type='PAFPN',
        in_channels=[24, 48, 48, 80],
        out_channels=24,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=3),
    bbox_head=dict(
        type='SCRFDHead',
        num_classes=1,
        in_channels=24,
        stacked_convs=2,
        feat_channels=64,
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True),
        cls_reg_share=True,
        strides_share=True,
        dw_conv=False,
        scale_mode=2,
        use_kps=False,
        num_keypoints=5,
        anchor_generator=dict(
            type='AnchorGenerator', ratios=[1.0], scales=[1, 2], base_sizes=[16, 64, 256],
            strides=[8, 16, 32]),
        loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
        loss_bbox=dict(type='DIoULoss', loss_weight=2.0),
        loss_kps=dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=0.1)),
    train_cfg=dict(
        # SCRFD's released configs leave ignore boxes unused (ignore_iof_thr=-1); here anchors covered by an
        # ignore face (IoF > 0.5) are neither positive nor negative.
        assigner=dict(type='SCRFDATSSAssigner', topk=9, center_mode=0, ignore_iof_thr=0.5),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=-1,  # per level; SCRFD keeps every anchor above score_thr
        min_bbox_size=0,
        score_thr=0.02,
        nms=dict(type='nms', iou_threshold=0.45),
        max_per_img=-1))
