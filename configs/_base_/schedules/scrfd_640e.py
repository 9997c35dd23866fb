# SCRFD schedule: SGD 0.01 for 4 GPUs x 8 images, 1500-iteration linear warm-up, 640 epochs, x0.1 at 440 and 544
# (SCRFD's "lr_mult = 8": 55 * 8 and 68 * 8 of 80 * 8 epochs).
max_epochs = 640
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=80)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[440, 544], gamma=0.1),
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))

# SCRFD trained with 4 GPUs x 8 images and did not scale the learning rate; enable to scale linearly.
auto_scale_lr = dict(enable=False, base_batch_size=32)
