# WIDER FACE with 5 landmarks (RetinaFace labelv2 annotations), the SCRFD training recipe.
# Layout under data_root: train/images/<event>/*.jpg, train/labelv2.txt, val/images/..., val/labelv2.txt,
# val/gt/wider_{face,easy,medium,hard}_val.mat (see data/README.md).
# Geometry steps are the keypoint-aware FaceResize / FaceRandomFlip: mmdet's Resize / RandomFlip would leave the
# landmarks behind (PackFaceInputs refuses such a sample).
# Normalisation (mean/std, BGR->RGB) lives in the model's data_preprocessor.
dataset_type = 'WiderFaceDataset'
data_root = 'data/widerface/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadFaceAnnotations'),
    # sample redistribution: square crops of 0.3..2.0 x the short side
    dict(type='RandomSquareCrop', crop_choice=[0.3, 0.45, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0]),
    dict(type='FaceResize', scale=(640, 640), keep_ratio=False),
    dict(type='FaceRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackFaceInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    # VGA-style test scale: long side 640, aspect ratio kept
    dict(type='FaceResize', scale=(640, 640), keep_ratio=True),
    # annotations after FaceResize: ground truth stays in original-image pixels
    dict(type='LoadFaceAnnotations'),
    dict(type='PackFaceInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train/labelv2.txt',
        data_prefix=dict(img='train/images/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='val/labelv2.txt',
        data_prefix=dict(img='val/images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(type='WiderFaceMetric', gt_dir=data_root + 'val/gt/')
test_evaluator = val_evaluator
