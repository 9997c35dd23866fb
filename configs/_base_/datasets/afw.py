# AFW (Zhu & Ramanan, CVPR 2012: 205 images) with the re-annotations of Mathias et al. (ECCV 2014), scored as their
# face-eval toolbox does (AFWPascalMetric: faces under 30 x 30 px ignored, five runs of box adjustment, VOC area AP).
# Layout under afw_root (see data/README.md): testimages/*.jpg from the AFW release, new_annotations_AFW.mat.
# A test set only: training and validation stay WIDER FACE's (./widerface.py, whose test pipeline is used: VGA
# scale; tools/test.py --mode origin tests the original images). Score a trained model with
#   python tools/test.py MODEL_CONFIG CHECKPOINT --dataset-config configs/_base_/datasets/afw.py
# which takes test_dataloader's dataset and test_evaluator from here and keeps the model's test pipeline.
_base_ = ['./widerface.py']

afw_root = 'data/afw/'
test_dataloader = dict(
    dataset=dict(
        type='AFWPascalFaceDataset',
        data_root=afw_root,
        ann_file='new_annotations_AFW.mat',
        data_prefix=dict(img='testimages/')))
test_evaluator = dict(_delete_=True, type='AFWPascalMetric', ann_file=afw_root + 'new_annotations_AFW.mat',
                      prefix='afw')
