# PASCAL Face (Yan et al., IVC 2014: 851 images of PASCAL VOC) with the re-annotations of Mathias et al.
# (ECCV 2014), scored as their face-eval toolbox does; everything else as ./afw.py.
# Layout under pascal_root (see data/README.md): JPEGImages/*.jpg (PASCAL VOC 2012),
# Annotations_Face_PASCALLayout_large_fixed.mat. Score a trained model with
#   python tools/test.py MODEL_CONFIG CHECKPOINT --dataset-config configs/_base_/datasets/pascal_face.py
_base_ = ['./afw.py']

pascal_root = 'data/pascal_face/'
test_dataloader = dict(
    dataset=dict(
        data_root=pascal_root,
        ann_file='Annotations_Face_PASCALLayout_large_fixed.mat',
        data_prefix=dict(img='JPEGImages/')))
test_evaluator = dict(ann_file=pascal_root + 'Annotations_Face_PASCALLayout_large_fixed.mat', prefix='pascal')
