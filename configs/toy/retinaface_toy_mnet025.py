# Toy RetinaFace-MobileNet-0.25: learns the synthetic face set (tools/make_toy_widerface.py) on a CPU in minutes.
# The released network and loss at 320x320 input, with a short AdamW schedule instead of the release's 250 SGD epochs.
_base_ = ['../retinaface/retinaface_mnet025_1xb32-250e_widerface.py']

data_root = 'data/toy_widerface/'
img_scale = (320, 320)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadFaceAnnotations'),
    # toy faces are 12..120 px on ~300 px images: milder crops than WIDER's 0.3..1.0
    dict(type='RandomSquareCrop', crop_choice=[0.6, 0.8, 1.0, 1.2]),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackFaceInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadFaceAnnotations'),
    dict(type='PackFaceInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='WiderFaceMetric', gt_dir=data_root + 'val/gt/'),
    dict(type='FaceKeypointMetric'),
]
test_evaluator = val_evaluator

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, by_epoch=True, eta_min_ratio=0.05,
         convert_to_iter_based=True),
]
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=4e-3, weight_decay=1e-4), clip_grad=dict(max_norm=35))
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=4, max_keep_ckpts=2))
