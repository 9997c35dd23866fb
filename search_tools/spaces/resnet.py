# ResNetV1e search space (BasicBlock or Bottleneck): SCRFD's "computation redistribution" space for any budget.
# Read by search_tools.space.load_space('resnet'). A dimension is dict(type='int' | 'float' | 'choice', low, high
# (both inclusive), step, log, choices); `num=k` draws k independent values (stage_blocks_0..3); a list gives one
# dimension per entry. Raw widths are only proportions: the projection multiplies every searched width by one
# factor until the FLOPs budget is met, then rounds to `width_step` inside `width_range`.
family = 'ResNetV1e'

width_step = 8           # every channel count is a multiple of 8
width_range = (8, 1024)  # after projection
depth_range = (1, 32)    # step 2 rescales the template depths inside this range
depth_fallback = True    # too heavy at the narrowest widths: every depth x 0.8, 0.64 ... until it fits

# Step 1 ('backbone'): the computation split across stem and C2..C5; neck and head come from the template.
backbone = dict(
    block=dict(type='choice', choices=['BasicBlock', 'Bottleneck']),
    stem_channels=dict(type='int', low=8, high=64, step=8),     # also the C2 planes (tie below)
    stage_blocks=dict(type='int', low=1, high=10, num=4),        # C2..C5 depths
    # planes(C_i+1) = planes(C_i) * ratio. SCRFD drew ratios in [1, 4] and rejected what missed the budget; here
    # every sample is projected, and a chain of ratios near 4 (C5 up to 64x the stem) then pins the stem at the
    # minimum width (75 % of 2.5 GF candidates at [1, 4], 38 % at [1, 3]). The published ResNet models use 1-2.6.
    width_ratios=dict(type='float', low=1.0, high=3.0, num=3),
)

# Step 2 ('full'): the split across backbone, neck and head, relative to the template (the step-1 winner).
full = dict(
    depth_scale=dict(type='float', low=0.5, high=2.0),           # every template depth x scale, rounded, >= 1
    width_scale=dict(type='float', low=0.5, high=2.0),           # backbone widths against neck/head widths
    neck_channels=dict(type='int', low=8, high=128, step=8),
    head_channels=dict(type='int', low=8, high=256, step=8),
    head_convs=dict(type='int', low=1, high=4),
    head_norm=dict(type='choice', choices=['GN', 'BN']),
    strides_share=dict(type='choice', choices=[True, False]),
    use_kps=dict(type='choice', choices=[False, True]),
)

# Tie rules.
ties = dict(
    stem_equals_c2=True,        # SCRFD: base_channels is both the stem width and the C2 planes
    non_decreasing_widths=True,  # ratios >= 1 and monotone rounding keep planes(C2) <= ... <= planes(C5)
    gn_groups=(16, 8),          # GN heads: the first of these dividing the head width (and neck width if dw)
)

# Neck and head of step 1 when no template is given: SCRFD's mode-1 template (scrfdgen2.5g_0: PAFPN 48, head
# 2 x 96 GN), its widths scaled so that neck + head take the same share of the budget as there (41 % at 2.5 GF).
step1_template = dict(
    neck=dict(type='PAFPN', out_channels=48),
    head=dict(feat_channels=96, stacked_convs=2, norm='GN', num_groups=16, dw_conv=False, strides_share=True,
              cls_reg_share=True, scale_mode=2, use_kps=False, num_keypoints=5, num_anchors=2),
    neck_head_share=0.41)

# Step-2 template when none is given: the published SCRFD-2.5GF.
reference = dict(
    backbone=dict(type='ResNetV1e', block='BasicBlock', stem_channels=24, stage_blocks=[3, 5, 3, 2],
                  stage_planes=[24, 48, 48, 80]),
    neck=dict(type='PAFPN', out_channels=24),
    head=dict(feat_channels=64, stacked_convs=2, norm='GN', num_groups=16, dw_conv=False, strides_share=True,
              cls_reg_share=True, scale_mode=2, use_kps=False, num_keypoints=5, num_anchors=2))
