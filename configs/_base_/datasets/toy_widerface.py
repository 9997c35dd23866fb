# The synthetic toy face set (tools/make_toy_widerface.py) in the WIDER FACE layout of ./widerface.py: 320 x 320
# training crops, test images resized to fit 320 x 320, WIDER Easy/Medium/Hard AP and the landmark NME.
# A toy config sets its own train_pipeline (crop range, photometric distortion) and passes it to the dataloader:
#   train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
_base_ = ['./widerface.py']

data_root = 'data/toy_widerface/'
img_scale = (320, 320)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadFaceAnnotations'),
    # toy faces are 12..120 px on ~300 px images: milder crops than WIDER's 0.3..2.0
    dict(type='RandomSquareCrop', crop_choice=[0.6, 0.8, 1.0, 1.2, 1.4]),
    dict(type='FaceResize', scale=img_scale, keep_ratio=False),
    dict(type='FaceRandomFlip', prob=0.5),
    dict(type='PackFaceInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='FaceResize', scale=img_scale, keep_ratio=True),
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
