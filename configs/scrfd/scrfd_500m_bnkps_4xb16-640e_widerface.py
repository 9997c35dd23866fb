# SCRFD-0.5GF with keypoints: per-stride BN depthwise head, no Scale, 5-landmark branch. SCRFD trained it with
# 16 images per GPU (4 x 16) at the same learning rate.
_base_ = [
    '../_base_/datasets/widerface.py',
    '../_base_/schedules/scrfd_640e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/scrfd_500m_bnkps.py',
]

train_dataloader = dict(batch_size=16)
auto_scale_lr = dict(base_batch_size=64)
