# MobileNetV1 (depthwise-separable) search space for small budgets (0.5-1 GF, SCRFD-0.5GF/1GF family).
# Same format as resnet.py. Widths: stem conv, stem depthwise-separable block, C2..C5 (6 values, a chain of
# ratios from the stem width); the head uses depthwise-separable convs like SCRFD-0.5GF/1GF.
family = 'MobileNetV1'

width_step = 8
width_range = (8, 1024)
depth_range = (1, 16)
depth_fallback = True    # too heavy at the narrowest widths: every depth x 0.8, 0.64 ... until it fits

backbone = dict(
    stem_channels=dict(type='int', low=8, high=32, step=8),
    stage_blocks=dict(type='int', low=1, high=8, num=4),
    width_ratios=[                                              # published: 500m 1, 2.5, 1.8, 2.1, 1.9
        dict(type='float', low=1.0, high=2.0),                  # stem dw-sep / stem conv   1g: 1.5, 1, 3.3, 1.35, 1.4
        dict(type='float', low=1.0, high=3.0),                  # C2 / stem dw-sep
        dict(type='float', low=1.0, high=4.0, num=3),           # C3/C2, C4/C3, C5/C4
    ],
)

full = dict(
    depth_scale=dict(type='float', low=0.5, high=2.0),
    width_scale=dict(type='float', low=0.5, high=2.0),
    neck_channels=dict(type='int', low=8, high=64, step=8),
    head_channels=dict(type='int', low=8, high=128, step=8),
    head_convs=dict(type='int', low=1, high=4),
    head_norm=dict(type='choice', choices=['GN', 'BN']),
    strides_share=dict(type='choice', choices=[True, False]),
    use_kps=dict(type='choice', choices=[False, True]),
)

ties = dict(stem_equals_c2=False, non_decreasing_widths=True, gn_groups=(16, 8))

# SCRFD-0.5GF's neck and head (PAFPN 16, 2 x 64 dw GN16): 21 % of its FLOPs.
step1_template = dict(
    neck=dict(type='PAFPN', out_channels=16),
    head=dict(feat_channels=64, stacked_convs=2, norm='GN', num_groups=16, dw_conv=True, strides_share=True,
              cls_reg_share=True, scale_mode=2, use_kps=False, num_keypoints=5, num_anchors=2),
    neck_head_share=0.21)

reference = dict(
    backbone=dict(type='MobileNetV1', stage_blocks=[2, 3, 2, 6], stage_planes=[16, 16, 40, 72, 152, 288]),
    neck=dict(type='PAFPN', out_channels=16),
    head=dict(feat_channels=64, stacked_convs=2, norm='GN', num_groups=16, dw_conv=True, strides_share=True,
              cls_reg_share=True, scale_mode=2, use_kps=False, num_keypoints=5, num_anchors=2))
