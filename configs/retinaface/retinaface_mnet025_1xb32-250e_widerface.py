# RetinaFace, MobileNet-0.25 backbone (Deng et al. 2019), as in the widely used PyTorch release
# (``mobilenet0.25`` / ``cfg_mnet``): 426,608 parameters. Its released weights convert with
# tools/model_converters/retinaface_pth2mmdet.py and then reproduce the release's detections exactly.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/widerface.py']

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

# Training data as the release: square crops of 0.3..1.0 x the short side, resized to 640, photometric
# distortion, flip; batch 32 on one GPU.
image_size = 640
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadFaceAnnotations'),
    dict(type='RandomSquareCrop', crop_choice=[0.3, 0.45, 0.6, 0.8, 1.0]),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackFaceInputs'),
]
# the release tests WIDER FACE at the original image size
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadFaceAnnotations'),
    dict(type='PackFaceInputs'),
]
train_dataloader = dict(batch_size=32, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# Schedule of the release: SGD lr 1e-3, momentum 0.9, weight decay 5e-4, 250 epochs, lr x0.1 at epochs 190 and 220,
# no warm-up.
max_epochs = 250
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[190, 220], gamma=0.1),
]
# The release starts from its own ImageNet-pretrained MobileNet-0.25, which is not redistributed here: set
# ``model.backbone.init_cfg = dict(type='Pretrained', checkpoint=...)`` when you have one.
auto_scale_lr = dict(enable=False, base_batch_size=32)
