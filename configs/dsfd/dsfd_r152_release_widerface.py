# DSFD-ResNet-152 as released by the authors (Tencent/FaceDetection-DSFD, ``WIDERFace_DSFD_RES152.pth``), test only:
# the release ships inference code and the second shot only, so there is nothing to train here (the training
# configs of this folder add the paper's first shot). Convert the released weights with
#     python tools/model_converters/dsfd_pth2mmdet.py WIDERFace_DSFD_RES152.pth dsfd_r152_release.pth \
#         --config configs/dsfd/dsfd_r152_release_widerface.py
# Published WIDER FACE val AP (release README, with its multi-scale test): 96.6 / 95.7 / 90.4.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/widerface_release_test.py',
          '../_base_/models/dsfd_r152.py']

# single scale at the original image size (../_base_/datasets/widerface_release_test.py: no resize, batch 1);
# the release's own multi-scale protocol is the test-time mode 'dsfd_release' (tools/test.py --tta dsfd_release)
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# The release's own WIDER FACE protocol (widerface_val.py), used by tools/test.py --tta: per image up to 11 views
# (original scale and its flip; 0.5 / 0.75 for large faces; enlargements up to m = min(3, sqrt(2^31 / 200 / HW)) and
# 0.25 / 1.25 / 1.75 / 2.25 with the release's 30 px / 100 px size filters), each detected with score > 0.01,
# top 5000, NMS 0.3 and no cap, merged by the release's bbox_vote (IoU 0.3, single-box clusters dropped,
# score-weighted mean box, max score, 750 kept) and rounded as the release writes its result files.
tta_model = dict(type='DSFDReleaseTTAModel',
                 tta_cfg=dict(iou_threshold=0.3, max_per_img=750, release_rounding=True))
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='DSFDReleaseTTA', transforms=[
        # after the resize: the ground truth stays in original-image pixels
        dict(type='LoadFaceAnnotations'),
        dict(type='PackFaceInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction',
                        'pad_shape', 'dsfd_size_filter')),
    ]),
]
