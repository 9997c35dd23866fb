# Toy SRN: learns the synthetic face set (tools/make_toy_widerface.py) on a CPU in minutes. A quarter-width
# ResNet-18 (16-32-64-128 channels, no pretraining), 48-channel pyramid, one RFE per tower, 320 x 320 input, the
# short toy AdamW schedule at half its learning rate. Everything else (STC/STR, anchors, assigners, losses) is the
# published SRN network's (../_base_/models/srn_r50_fpn.py). The toy set's default training pipeline (square crops,
# resize, flip; no photometric distortion) and boxes-only evaluation (SRN predicts no landmarks).
_base_ = ['../_base_/schedules/toy_12e.py', '../_base_/datasets/toy_widerface.py',
          '../_base_/models/srn_r50_fpn.py']

model = dict(
    backbone=dict(depth=18, base_channels=16, stem_channels=16, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=48, extra_channels=(128, 64)),
    bbox_head=dict(in_channels=48, feat_channels=48, tower=('rfe',)),
    test_cfg=dict(nms_pre=1000, max_per_img=300))

val_evaluator = dict(_delete_=True, type='WiderFaceMetric', gt_dir=_base_.data_root + 'val/gt/')
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=2e-3))
