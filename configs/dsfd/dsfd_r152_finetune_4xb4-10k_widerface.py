# Fine-tune DSFD-ResNet-152 from its released weights (Tencent/FaceDetection-DSFD WIDERFace_DSFD_RES152.pth) on
# your data (docs/finetune.md): the paper's two-shot training (./dsfd_r152_4xb4-60k_widerface.py) started from the
# release. Convert the file first:
#     python tools/model_converters/dsfd_pth2mmdet.py WIDERFace_DSFD_RES152.pth checkpoints/dsfd_r152_release.pth
# then train with --partial-load --cfg-options load_from=checkpoints/dsfd_r152_release.pth. The release ships the
# second shot only: everything it has loads; the train-only first-shot branches (bbox_head.first_shot_*) are newly
# initialised (Xavier, as the paper's new layers). Publish the result with tools/model_converters/dsfd_publish.py.
_base_ = ['./dsfd_r152_4xb4-60k_widerface.py']

# the backbone comes from the release (load_from), not from ImageNet: no torchvision download
model = dict(backbone=dict(backbone=dict(init_cfg=None)))

# Schedule: our choice for fine-tuning, not tuned on WIDER FACE (unverified): the release's second learning rate
# (1e-4) for 8k iterations and 1e-5 for 2k, after a 500-iteration warm-up: the new first shot starts random, and
# its large early gradients reach the loaded backbone.
max_iters = 10000
train_cfg = dict(max_iters=max_iters, val_interval=2500)
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[8000], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=2500))
