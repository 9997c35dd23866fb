# AInnoFace with a ResNet-50 backbone (our variant for cheaper runs; whether the paper reports an R-50 ablation
# is unverified): see the R-152 config.
_base_ = ['./ainnoface_r152_fpn_4xb8-130e_widerface.py']

model = dict(backbone=dict(depth=50, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
