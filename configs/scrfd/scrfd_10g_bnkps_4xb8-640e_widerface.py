# SCRFD-10GF with keypoints: per-stride BN head with a 5-landmark branch. 4.23M parameters.
_base_ = './scrfd_10g_4xb8-640e_widerface.py'

model = dict(
    bbox_head=dict(
        norm_cfg=dict(_delete_=True, type='BN', requires_grad=True),
        strides_share=False,
        scale_mode=2,
        use_kps=True))
