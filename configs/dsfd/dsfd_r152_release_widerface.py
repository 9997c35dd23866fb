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
