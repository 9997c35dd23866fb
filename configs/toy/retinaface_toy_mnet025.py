# Toy RetinaFace-MobileNet-0.25: learns the synthetic face set (tools/make_toy_widerface.py) on a CPU in minutes.
# The released network and loss (../_base_/models/retinaface_mnet025.py) at 320x320 input, with the short toy
# AdamW schedule instead of the release's 250 SGD epochs.
_base_ = ['../_base_/schedules/toy_12e.py', '../_base_/datasets/toy_widerface.py',
          '../_base_/models/retinaface_mnet025.py']

img_scale = (320, 320)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadFaceAnnotations'),
    # toy faces are 12..120 px on ~300 px images: milder crops than WIDER's 0.3..1.0
    dict(type='RandomSquareCrop', crop_choice=[0.6, 0.8, 1.0, 1.2]),
    dict(type='FaceResize', scale=img_scale, keep_ratio=False),
    dict(type='FaceRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackFaceInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
