# RetinaFace, MobileNet-0.25 backbone (Deng et al. 2019), as in the widely used PyTorch release
# (``mobilenet0.25`` / ``cfg_mnet``): 426,608 parameters. Its released weights convert with
# tools/model_converters/retinaface_pth2mmdet.py and then reproduce the release's detections exactly.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/widerface_release_test.py',
          '../_base_/models/retinaface_mnet025.py']

# Training data as the release: square crops of 0.3..1.0 x the short side, resized to 640, photometric
# distortion, flip; batch 32 on one GPU.
image_size = 640
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadFaceAnnotations'),
    dict(type='RandomSquareCrop', crop_choice=[0.3, 0.45, 0.6, 0.8, 1.0]),
    dict(type='FaceResize', scale=(image_size, image_size), keep_ratio=False),
    dict(type='FaceRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackFaceInputs'),
]
train_dataloader = dict(batch_size=32, num_workers=4, dataset=dict(pipeline=train_pipeline))
# the release tests WIDER FACE at the original image size: ../_base_/datasets/widerface_release_test.py

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
