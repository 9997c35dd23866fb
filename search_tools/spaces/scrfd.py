# Faithful replay of SCRFD's released search sampler: insightface detection/scrfd/search_tools/
# generate_configs_2.5g.py (commit 89026ba5), ResNetV1e only. Every dimension is independent and uniform, as the
# AutoTorch/ConfigSpace space it used. search_tools/scrfd_replay.py implements the rounding and filters of that script:
#   mode 1 ('backbone'): base = max(8, base_channels // 8 * 8) is both the stem width and the C2 planes;
#       planes(C_i+1) = int(planes(C_i) * ratio) // 8 * 8; depths as drawn; neck and head stay the template's.
#   mode 2 ('full'): depths = numpy.round(template depth * stage_blocks_ratio) (a 0 still builds one block);
#       widths = int(numpy.round(template width * base_channels_ratio)) // 8 * 8 (stem included);
#       neck = fpn_channel // 8 * 8, head = head_channel // 8 * 8, head_stack convs; GN groups: walk 8, 16, 32, 64
#       and keep the last that divides the head width. A sample is kept only if, for C2..C5, the template's
#       stage/stem FLOPs ratio lies within +-ratio_lock * tolerance (+-10 % at eps 0.02) of the candidate's, the
#       FLOPs taken from mmcv's printed per-module table (GFLOPs with 3 decimals; the stem without its max-pool).
#       In practice this lock freezes the template's depths: mode 2 only trades backbone width against neck
#       width, head width and head depth.
#   both: kept only if the total FLOPs lie within gflops * (1 +- tolerance); nothing is projected (rejection).
family = 'ResNetV1e'
faithful = True

backbone = dict(   # GenConfigBackbone
    block=dict(type='choice', choices=['BasicBlock', 'Bottleneck']),
    base_channels=dict(type='int', low=8, high=64),
    stage_blocks=dict(type='int', low=1, high=10, num=4),
    stage_planes_ratio=dict(type='float', low=1.0, high=4.0, num=3),
)
full = dict(       # GenConfigAll
    stage_blocks_ratio=dict(type='float', low=0.5, high=3.0),
    base_channels_ratio=dict(type='float', low=0.5, high=3.0),
    fpn_channel=dict(type='int', low=8, high=128),
    head_channel=dict(type='int', low=8, high=256),
    head_stack=dict(type='int', low=1, high=4),
)
ratio_lock = 5                  # x tolerance (args.eps * 5 in the released script)
gn_groups_walk = (8, 16, 32, 64)

# Mode 1's template: configs/scrfdgen2.5g/scrfdgen2.5g_0.py (ResNet34 x 0.25, PAFPN 48, head 2 x 96 GN16).
step1_template = dict(
    backbone=dict(type='ResNetV1e', block='BasicBlock', stem_channels=16, stage_blocks=[3, 4, 6, 3],
                  stage_planes=[16, 32, 64, 128]),
    neck=dict(type='PAFPN', out_channels=48),
    head=dict(feat_channels=96, stacked_convs=2, norm='GN', num_groups=16, dw_conv=False, strides_share=True,
              cls_reg_share=True, scale_mode=2, use_kps=False, num_keypoints=5, num_anchors=2))

# Mode 2's template when none is given: the published SCRFD-2.5GF.
reference = dict(
    backbone=dict(type='ResNetV1e', block='BasicBlock', stem_channels=24, stage_blocks=[3, 5, 3, 2],
                  stage_planes=[24, 48, 48, 80]),
    neck=dict(type='PAFPN', out_channels=24),
    head=dict(feat_channels=64, stacked_convs=2, norm='GN', num_groups=16, dw_conv=False, strides_share=True,
              cls_reg_share=True, scale_mode=2, use_kps=False, num_keypoints=5, num_anchors=2))
