# Fine-tune SCRFD-0.5GF-kps from its released ONNX weights (insightface scrfd_500m_bnkps.onnx) on your data
# (docs/finetune.md). Convert the file into ./scrfd_500m_bnkps_4xb16-640e_widerface.py's model first:
#     python tools/model_converters/scrfd_onnx2mmdet.py scrfd_500m_bnkps.onnx \
#         configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py checkpoints/scrfd_500m_bnkps.pth
# then train with --cfg-options load_from=checkpoints/scrfd_500m_bnkps.pth. The network is the release's, so every
# weight loads (strictly). The release holds BatchNorm folded into its convs: the converter writes identity BNs
# (exact at test time) and FoldedBNCalibrationHook gives them the statistics of the training data before the first
# step, so that training-mode BN starts from the release's function (docs/finetune.md explains both steps).
_base_ = ['./scrfd_500m_bnkps_4xb16-640e_widerface.py']

# (a list replaces the inherited one: FiniteCheckHook is restated)
custom_hooks = [dict(type='FiniteCheckHook'), dict(type='FoldedBNCalibrationHook', num_batches=20)]

# Schedule: our choice for fine-tuning, not tuned on WIDER FACE (unverified): a tenth of SCRFD's learning rate per
# image (SCRFD: 0.01 for 4 x 16 images; here 1e-3 for 16), a short warm-up (the loaded weights are already good,
# but the first steps' BN statistics and momentum are not), 20 epochs, cosine decay to 5%.
max_epochs = 20
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, by_epoch=True, eta_min_ratio=0.05,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=16)
