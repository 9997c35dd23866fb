# RetinaFace-MobileNet-0.25 network (Deng et al. 2019) as in the widely used PyTorch release (``mobilenet0.25``
# / ``cfg_mnet``): 426,608 parameters. Used by ../../retinaface/retinaface_mnet025_1xb32-250e_widerface.py and
# ../../toy/retinaface_toy_mnet025.py.
model = dict(
    type='RetinaFace',
    # The release subtracts the BGR mean (104, 117, 123) and does not scale; no padding at test time so the
    # prior grid is ceil(H / s) x ceil(W / s) of the original image, as in the release.
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[104, 117, 123], std=[1, 1, 1], bgr_to_rgb=False,
        pad_size_divisor=1),
    backbone=dict(
        type='MobileNetV1RetinaFace', widen_factor=0.25, out_indices=(0, 1, 2),
        norm_cfg=dict(type='BN'), act_cfg=dict(type='LeakyReLU', negative_slope=0.1)),
    # FPN (BN + LeakyReLU(0.1) convs, nearest upsampling, merge convs) then one SSH context module per level
    neck=[
        dict(type='RetinaFaceFPN', in_channels=[64, 128, 256], out_channels=64),
        dict(type='RetinaFaceSSH', num_levels=3, in_channels=64, out_channels=64),
    ],
    bbox_head=dict(
        type='RetinaFaceHead',
        num_classes=1,
        in_channels=64,
        num_keypoints=5,
        # 2 anchors per location: 16/32, 64/128, 256/512 px at strides 8/16/32, centred at (x + 0.5) * s
        prior_generator=dict(
            type='AnchorGenerator', strides=[8, 16, 32], ratios=[1.0], scales=[1.0, 2.0],
            base_sizes=[16, 64, 256], centers=[(4, 4), (8, 8), (16, 16)]),
        bbox_coder=dict(type='RetinaFaceBoxCoder', variances=(0.1, 0.2)),
        loss_cls_weight=1.0,
        neg_pos_ratio=3,
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=2.0),
        loss_kps=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)),
    train_cfg=dict(
        # IoU >= 0.35 positive, < 0.35 negative; a face's best prior is positive too when its IoU >= 0.2
        assigner=dict(
            type='MaxIoUAssigner', pos_iou_thr=0.35, neg_iou_thr=0.35, min_pos_iou=0.2,
            match_low_quality=True, gt_max_assign_all=False, ignore_iof_thr=-1)),
    # the release's WIDER FACE test: score > 0.02, top 5000, NMS 0.4 with +1-pixel areas, keep 750
    test_cfg=dict(
        score_thr=0.02, nms_pre=5000, nms=dict(type='nms', iou_threshold=0.4, offset=1), max_per_img=750))
