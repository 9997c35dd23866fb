# SRN, ResNet-50 (Chi et al., AAAI 2019, arXiv 1809.02693): STC on P2-P4, STR on P5-P7, RFE in the heads.
# Every value cites the paper section it comes from. "unverified": a paper value not yet checked against the
# paper's text (only its abstract and introduction were checked: they confirm STC on the low levels, STR on the
# high levels and RFE, and give no hyper-parameters); verify against the PDF before reporting numbers.
# "paper silent": our choice, reason given. "release": the authors' test-only code, ChiCheng123/SRN (config.json,
# srn/model/resnet_srn.py, srn/model/rpn_proposal.py, srn/utils/bbox_helper.py, tools/test.py), read for facts
# only; it has no training code, so it settles nothing about training. "re-implementation": the training config
# (easydict config.py) of an independent MXNet re-implementation of SRN (not the authors'; it
# agrees with our values, which is not a confirmation by the paper; it also has stc_theta 0.99). Neither the SRN
# nor the AInnoFace paper reports parameter counts or FLOPs in the parts checked.
# The network (every value with its source): ../_base_/models/srn_r50_fpn.py.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/widerface.py', '../_base_/models/srn_r50_fpn.py']

# Sec. 4.1 (unverified; the release has no training code): square crops resized to 1024 x 1024,
# flip, photometric distortion; whether SRN also expands (zoom-out) is unverified -- none here.
# Size and photometric values: unverified; matches an independent re-implementation's training
# config (image_size 1024, hue 18, contrast / saturation 0.5, brightness 0.125 on a 0-1 scale = 32 on 0-255);
# its crop procedure was not read.
image_size = 1024
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
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))  # 4 GPUs x 8 = 32 (Sec. 4.1)

# Sec. 4.1 (unverified): SGD, momentum 0.9, weight decay 1e-4, batch 32, lr 0.01 for 100 epochs,
# then 0.001 for 20 and 0.0001 for 10 (130 epochs); lr and steps: matches an independent re-implementation's
# training config (lr 0.01, lr_step '100, 120, 130'; its momentum / weight decay were not in the file read, its
# batch_size is 1, per device or in all not read); warm-up and grad clipping are our choice
max_epochs = 130
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
                     clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[100, 120], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=32)
