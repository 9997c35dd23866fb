# Runtime shared by every face config: mmdet_face scope (falls back to mmdet/mmengine for everything else).
default_scope = 'mmdet_face'
# Registers every mmdet-face module and installs the checkpoint allow-list (mmdet_face/all_modules.py).
custom_imports = dict(imports=['mmdet_face.all_modules'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keep the best WIDER FACE Hard AP as well as the latest checkpoints.
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3, save_best='widerface/hard',
                    rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))
# Stop at the first non-finite loss term or normalisation statistic, naming it; never save NaN weights.
custom_hooks = [dict(type='FiniteCheckHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='FaceLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
