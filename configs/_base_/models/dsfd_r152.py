# DSFD (Li et al., CVPR 2019) with a ResNet-152, the network of the authors' release
# (Tencent/FaceDetection-DSFD ``face_ssd.py`` + ``data/config.py`` ``widerface_640``): the second shot only, as the
# released weights are; 120,058,406 parameters with the release's PyramidBox head/body channels, 120,044,528
# without them (what this model has: the converter drops those channels). Used by
# ../../dsfd/dsfd_r152_release_widerface.py; the training configs of configs/dsfd/ add the first shot.
model = dict(
    type='DSFD',
    # release: cv2 (BGR) image minus MEANS (104, 117, 123), no std (widerface_val.py ``detect_face``,
    # data/config.py ``MEANS``); no padding at test time, so the maps are ceil(H / s) x ceil(W / s) of the image
    # and the prior clamp bounds are the image's own size, as in the release
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[104, 117, 123], std=[1, 1, 1], bgr_to_rgb=False,
        pad_size_divisor=1),
    backbone=dict(
        type='DSFDBackbone',
        # release: torchvision resnet152 cut into layer1..layer4 (stride on the 3x3 conv = mmdet style 'pytorch';
        # torchvision's BN eps 1e-5 = mmdet's default). norm_eval / frozen_stages are our training choices
        # (mmdet's usual ones); they do not change inference.
        backbone=dict(
            type='mmdet.ResNet', depth=152, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=-1,
            norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True, style='pytorch'),
        in_channels=2048,
        # release layer5 (1x1 2048->512, 3x3/2 512->512) and layer6 (1x1 512->128, 3x3/2 128->256), convs with
        # bias, BN, ReLU: strides 64 and 128
        extra_channels=[(512, 512), (128, 256)]),
    neck=dict(
        type='DSFDFEM',
        # release output_channels [256, 512, 1024, 2048, 512, 256]
        in_channels=[256, 512, 1024, 2048, 512, 256],
        # release: lfpn3/lfpn2/lfpn1 only (the six-level chain is commented out there)
        num_fused_levels=3,
        # release FEM: cpm1 256 (dilation 1) | cpm3 128 on cpm2 (dilation 2) | cpm5 128 on cpm4 (dilations 2, 1)
        branch_channels=[256, 128, 128]),
    bbox_head=dict(
        type='DSFDHead',
        num_classes=1,
        in_channels=512,      # FEM output
        feat_channels=256,    # release DeepHeadModule mid width min(512, 256)
        num_convs=3,          # release DeepHeadModule conv1..conv3
        max_in_out=True,      # release config max_in_out=True, SSD.mio_module
        num_maxout=3,
        # release config: steps 4..128, min_sizes 16..512, aspect_ratios [1.5], no max_sizes, clip=True
        prior_generator=dict(
            type='DSFDPriorGenerator', strides=[4, 8, 16, 32, 64, 128], base_sizes=[16, 32, 64, 128, 256, 512],
            ratio=1.5, clip=True),
        # release config variance [0.1, 0.2]; decode without a size-delta clamp, as the release
        bbox_coder=dict(type='RetinaFaceBoxCoder', variances=(0.1, 0.2))),
    train_cfg=None,
    # release layers/functions/detection.py with widerface_640: conf_thresh 0.01 (strictly greater), top 5000,
    # NMS 0.3 (areas without +1: offset 0); 750 per image: the paper's test setting (its §4.1)
    test_cfg=dict(score_thr=0.01, nms_pre=5000, nms=dict(type='nms', iou_threshold=0.3), max_per_img=750))
