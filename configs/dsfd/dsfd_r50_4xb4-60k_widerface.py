# DSFD-ResNet-50: the two-shot DSFD of ./dsfd_r152_4xb4-60k_widerface.py (same FEM, heads, anchors, loss, data
# and schedule) on a ResNet-50, a practical size (paper Sec. 4.2 / Table 5 ablates ResNet-50/101/152 backbones;
# no weights were released for them). ResNet-50 has the same level channels as ResNet-152 (256, 512, 1024, 2048),
# so the rest of the network is unchanged.
_base_ = './dsfd_r152_4xb4-60k_widerface.py'

model = dict(
    backbone=dict(
        backbone=dict(depth=50, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50'))))
