# PASCAL Face (Yan et al., IVC 2014: 851 images of PASCAL VOC) with the re-annotations of Mathias et al.
# (ECCV 2014), scored as their face-eval toolbox does (AFWPascalMetric: faces under 30 x 30 px ignored, five runs of box adjustment, VOC area AP).
# Layout under data_root (see data/README.md): JPEGImages/*.jpg (PASCAL VOC 2012),
# Annotations_Face_PASCALLayout_large_fixed.mat.
# A test set only: score a trained model with
#   python tools/test.py MODEL_CONFIG CHECKPOINT --dataset-config configs/_base_/datasets/pascal_face.py
# which takes test_dataloader's dataset and test_evaluator from here and keeps the model's test pipeline.
dataset_type = 'AFWPascalFaceDataset'
data_root = 'data/pascal_face/'
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
        ann_file='Annotations_Face_PASCALLayout_large_fixed.mat',
        data_prefix=dict(img='JPEGImages/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_evaluator = dict(type='AFWPascalMetric', ann_file=data_root + 'Annotations_Face_PASCALLayout_large_fixed.mat',
                      prefix='pascal')
