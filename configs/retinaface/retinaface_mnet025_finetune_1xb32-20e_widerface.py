# Fine-tune RetinaFace-MobileNet-0.25 from its released weights (biubug6/Pytorch_Retinaface mobilenet0.25_Final.pth)
# on your data (docs/finetune.md). Convert the file into ./retinaface_mnet025_1xb32-250e_widerface.py's model first:
#     python tools/model_converters/retinaface_pth2mmdet.py mobilenet0.25_Final.pth \
#         checkpoints/retinaface_mnet025.pth
# then train with --cfg-options load_from=checkpoints/retinaface_mnet025.pth. The network is the release's, so
# every weight loads (strictly), BatchNorm statistics included (the .pth keeps them).
_base_ = ['./retinaface_mnet025_1xb32-250e_widerface.py']

# Schedule: our choice for fine-tuning, not tuned on WIDER FACE (unverified): the release's second learning rate
# (1e-4, which it reaches at epoch 190 of 250) instead of its first (1e-3), a 100-iteration warm-up, 20 epochs,
# x0.1 at epoch 15.
max_epochs = 20
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[15], gamma=0.1),
]
