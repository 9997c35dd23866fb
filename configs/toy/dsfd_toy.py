# Toy DSFD: the two-shot DSFD (../_base_/models/dsfd_r152_two_shot.py: FEM, max-in-out, 1.5-ratio anchors with the
# half-size first shot, Progressive Anchor Loss, IoU-0.4 matching, 3:1 hard negatives) on a light backbone that
# learns the synthetic face set (tools/make_toy_widerface.py) on a CPU in minutes. What differs from the paper,
# all for CPU time: a quarter-width ResNet-18 (16-32-64-128 channels, no pretraining, BN trained), narrow extra
# blocks, FEM branches and heads (widths below, one conv per head tower instead of three), 320 x 320 input, and the
# toy AdamW schedule cut to 6 epochs (12 reach Easy/Medium/Hard 0.9990 / 0.9991 / 0.9970 but take twice as long).
_base_ = ['../_base_/schedules/toy_12e.py', '../_base_/datasets/toy_widerface.py',
          '../_base_/models/dsfd_r152_two_shot.py']

level_channels = [16, 32, 64, 128, 64, 64]
model = dict(
    backbone=dict(
        backbone=dict(depth=18, base_channels=16, stem_channels=16, norm_eval=False, init_cfg=None),
        in_channels=128, extra_channels=[(32, 64), (32, 64)]),
    neck=dict(in_channels=level_channels, branch_channels=[32, 16, 16]),
    bbox_head=dict(in_channels=64, feat_channels=32, num_convs=1, first_shot=dict(in_channels=level_channels)),
    # fewer candidates than the release's 5000 / 750 (toy images hold at most ~15 faces)
    test_cfg=dict(nms_pre=1000, max_per_img=300))

img_scale = (320, 320)
# Improved Anchor Matching as in ./dsfd_r152_4xb4-60k_widerface.py, scaled to the toy set: data-anchor-
# sampling with probability 0.4 (anchor scales 16..128: toy faces are 12..120 px), else SSD's min-IoU crop
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadFaceAnnotations'),
    dict(type='RandomChoice', prob=[0.4, 0.6],
         transforms=[[dict(type='DataAnchorSampling', crop_size=img_scale[0], anchor_scales=(16, 32, 64, 128),
                           pad_val=(104, 117, 123))],
                     [dict(type='FaceMinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3)]]),
    dict(type='FaceResize', scale=img_scale, keep_ratio=False),
    dict(type='FaceRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackFaceInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, by_epoch=True, eta_min_ratio=0.05,
         convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
# boxes only (DSFD predicts no landmarks)
val_evaluator = dict(_delete_=True, type='WiderFaceMetric', gt_dir=_base_.data_root + 'val/gt/')
test_evaluator = val_evaluator
