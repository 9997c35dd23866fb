# Toy SRN: learns the synthetic face set (tools/make_toy_widerface.py) on a CPU in minutes. A quarter-width
# ResNet-18 (16-32-64-128 channels, no pretraining), 48-channel pyramid, one RFE per tower, 320 x 320 input, a short
# AdamW schedule. Everything else (STC/STR, anchors, assigners, losses) is the published SRN config's.
_base_ = ['../srn/srn_r50_fpn_4xb8-130e_widerface.py']

model = dict(
    backbone=dict(depth=18, base_channels=16, stem_channels=16, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=48, extra_channels=(128, 64)),
    bbox_head=dict(in_channels=48, feat_channels=48, tower=('rfe',)),
    test_cfg=dict(nms_pre=1000, max_per_img=300))

data_root = 'data/toy_widerface/'
img_scale = (320, 320)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadFaceAnnotations'),
    dict(type='RandomSquareCrop', crop_choice=[0.6, 0.8, 1.0, 1.2, 1.4]),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackFaceInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadFaceAnnotations'),
    dict(type='PackFaceInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=2, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='WiderFaceMetric', gt_dir=data_root + 'val/gt/')
test_evaluator = val_evaluator

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, by_epoch=True, eta_min_ratio=0.05,
         convert_to_iter_based=True),
]
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4), clip_grad=dict(max_norm=35))
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=4, max_keep_ckpts=2))
