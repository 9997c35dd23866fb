"""Child registries of MMDetection's, under the scope ``mmdet_face`` (the mmyolo pattern).

A config with ``default_scope = 'mmdet_face'`` finds our classes here first and falls back to mmdet / mmengine
for everything else (``PAFPN``, ``QualityFocalLoss``, ``Runner`` ...). ``locations`` lets a registry import our
modules on first use, so building from a config works even before ``import mmdet_face``.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmengine.registry import Registry

DATASETS = Registry('dataset', parent=MMDET_DATASETS, locations=['mmdet_face.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMDET_DATA_SAMPLERS, locations=['mmdet_face.datasets'])
TRANSFORMS = Registry('transform', parent=MMDET_TRANSFORMS, locations=['mmdet_face.datasets.transforms'])
MODELS = Registry('model', parent=MMDET_MODELS, locations=['mmdet_face.models'])
TASK_UTILS = Registry('task util', parent=MMDET_TASK_UTILS, locations=['mmdet_face.models'])
METRICS = Registry('metric', parent=MMDET_METRICS, locations=['mmdet_face.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMDET_EVALUATOR, locations=['mmdet_face.evaluation'])
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['mmdet_face.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMDET_OPTIM_WRAPPERS, locations=['mmdet_face.engine'])
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMDET_PARAM_SCHEDULERS,
                            locations=['mmdet_face.engine'])
VISUALIZERS = Registry('visualizer', parent=MMDET_VISUALIZERS, locations=['mmdet_face.visualization'])
