# AFW (Zhu & Ramanan, CVPR 2012: 205 images) with the re-annotations of Mathias et al. (ECCV 2014), scored as their
# face-eval toolbox does (AFWPascalMetric: faces under 30 x 30 px ignored, five runs of box adjustment, VOC area AP).
# Layout under data_root (see data/README.md): testimages/*.jpg from the AFW release, new_annotations_AFW.mat.
# A test set only: score a trained model with
#   python tools/test.py MODEL_CONFIG CHECKPOINT --dataset-config configs/_base_/datasets/afw.py
# which takes test_dataloader's dataset and test_evaluator from here and keeps the model's test pipeline.
dataset_type = 'AFWPascalFaceDataset'
data_root = 'data/afw/'
backend_args = None

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    # VGA-style test scale as configs/_base_/datasets/widerface.py; --mode origin tests the original images
    dict(type='FaceResize', scale=(640, 640), keep_ratio=True),
    dict(type='LoadFaceAnnotations'),
    dict(type='PackFaceInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='new_annotations_AFW.mat',
        data_prefix=dict(img='testimages/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_evaluator = dict(type='AFWPascalMetric', ann_file=data_root + 'new_annotations_AFW.mat', prefix='afw')
