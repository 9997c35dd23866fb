# SCRFD-0.5GF with keypoints: per-stride BN depthwise head, no Scale, 5-landmark branch. SCRFD trained it with
# 16 images per GPU (4 x 16) at the same learning rate.
_base_ = './scrfd_500m_4xb8-640e_widerface.py'

model = dict(
    bbox_head=dict(
        norm_cfg=dict(_delete_=True, type='BN', requires_grad=True),
        strides_share=False,
        scale_mode=0,
        use_kps=True))
train_dataloader = dict(batch_size=16)
auto_scale_lr = dict(base_batch_size=64)
