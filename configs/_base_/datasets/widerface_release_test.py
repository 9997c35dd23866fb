# WIDER FACE (./widerface.py) tested at the original image size, as the RetinaFace release does: no resize, the
# detector sees every validation image as it is (batch 1, so no two sizes meet in a batch).
_base_ = ['./widerface.py']

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadFaceAnnotations'),
    dict(type='PackFaceInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
