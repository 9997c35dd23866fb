# SCRFD-2.5GF with keypoints: per-stride BN head with a 5-landmark branch. 0.82M parameters.
_base_ = './scrfd_2.5g_4xb8-640e_widerface.py'

model = dict(
    bbox_head=dict(
        norm_cfg=dict(_delete_=True, type='BN', requires_grad=True),
        strides_share=False,
        scale_mode=2,
        use_kps=True))
