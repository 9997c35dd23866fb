# SCRFD-0.5GF with keypoints: per-stride BN depthwise head, no Scale, 5-landmark branch.
_base_ = ['./scrfd_500m.py']

model = dict(
    bbox_head=dict(
        norm_cfg=dict(_delete_=True, type='BN', requires_grad=True),
        strides_share=False,
        scale_mode=0,
        use_kps=True))
