# Toy AInnoFace: the toy SRN (./srn_toy.py: quarter-width ResNet-18, 48-channel pyramid, 320 x 320) with what
# AInnoFace adds, exactly as in ../ainnoface/ainnoface_r152_fpn_4xb8-130e_widerface.py: UnitBox IoU loss (-ln IoU)
# on the decoded second-step boxes, max-out background labels on P2 (3 logits), and data-anchor-sampling mixed 1:1
# with the square crop. Sampling anchor scales 16..128 (toy faces are 12..120 px on 320 px crops).
_base_ = ['./srn_toy.py']

model = dict(
    bbox_head=dict(
        reg_decoded_bbox=True,
        loss_bbox=dict(_delete_=True, type='IoULoss', mode='log', eps=1e-6, loss_weight=1.0),
        loss_bbox_first=dict(type='SmoothL1Loss', beta=0.11, loss_weight=1.0),
        maxout_levels=(0,), maxout_channels=3))

img_scale = (320, 320)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadFaceAnnotations'),
    dict(type='RandomChoice', prob=[0.5, 0.5],
         transforms=[[dict(type='DataAnchorSampling', crop_size=img_scale[0], anchor_scales=(16, 32, 64, 128),
                           pad_val=128)],
                     [dict(type='RandomSquareCrop', crop_choice=[0.6, 0.8, 1.0, 1.2, 1.4])]]),
    dict(type='FaceResize', scale=img_scale, keep_ratio=False),
    dict(type='FaceRandomFlip', prob=0.5),
    dict(type='PackFaceInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
