# RetinaFace, ResNet-50 backbone (Deng et al. 2019), as in the widely used PyTorch release (``Resnet50`` /
# ``cfg_re50``): torchvision ResNet-50 (ImageNet), 256-channel FPN + SSH with ReLU, images 840 x 840,
# batch 24 (4 GPUs x 6), 100 epochs, lr x0.1 at epochs 70 and 90.
_base_ = './retinaface_mnet025_1xb32-250e_widerface.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.ResNet', depth=50, num_stages=4, out_indices=(1, 2, 3), frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    # out_channels > 64: the release uses ReLU (act_cfg=None picks it)
    neck=[
        dict(type='RetinaFaceFPN', in_channels=[512, 1024, 2048], out_channels=256),
        dict(type='RetinaFaceSSH', num_levels=3, in_channels=256, out_channels=256),
    ],
    bbox_head=dict(in_channels=256))

image_size = 840
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
train_dataloader = dict(batch_size=6, dataset=dict(pipeline=train_pipeline))

max_epochs = 100
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[70, 90], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=24)
