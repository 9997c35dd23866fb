"""Child registries of MMDetection's, under the scope ``mmdet_face`` (the mmyolo pattern).

A config with ``default_scope = 'mmdet_face'`` finds our classes here first and falls back to mmdet / mmengine
for everything else (``PAFPN``, ``QualityFocalLoss``, ``Runner`` ...). ``locations`` lets a registry import our
modules on first use, so building from a config works even before ``import mmdet_face``. Every mmdet registry
has a child here, so mmengine never warns that it could not find the ``mmdet_face`` scope.
"""
from mmdet import registry as mmdet_registry
from mmengine.registry import Registry


def _child(name, parent, *locations):
    return Registry(name, parent=parent, locations=[f'mmdet_face.{loc}' for loc in locations])


RUNNERS = _child('runner', mmdet_registry.RUNNERS, 'engine')
RUNNER_CONSTRUCTORS = _child('runner constructor', mmdet_registry.RUNNER_CONSTRUCTORS, 'engine')
LOOPS = _child('loop', mmdet_registry.LOOPS, 'engine')
HOOKS = _child('hook', mmdet_registry.HOOKS, 'engine')
LOG_PROCESSORS = _child('log_processor', mmdet_registry.LOG_PROCESSORS, 'engine')
OPTIMIZERS = _child('optimizer', mmdet_registry.OPTIMIZERS, 'engine')
OPTIM_WRAPPERS = _child('optim_wrapper', mmdet_registry.OPTIM_WRAPPERS, 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor', mmdet_registry.OPTIM_WRAPPER_CONSTRUCTORS,
                                    'engine')
PARAM_SCHEDULERS = _child('parameter scheduler', mmdet_registry.PARAM_SCHEDULERS, 'engine')

DATASETS = _child('dataset', mmdet_registry.DATASETS, 'datasets')
DATA_SAMPLERS = _child('data sampler', mmdet_registry.DATA_SAMPLERS, 'datasets')
TRANSFORMS = _child('transform', mmdet_registry.TRANSFORMS, 'datasets.transforms')

MODELS = _child('model', mmdet_registry.MODELS, 'models')
MODEL_WRAPPERS = _child('model_wrapper', mmdet_registry.MODEL_WRAPPERS, 'models')
WEIGHT_INITIALIZERS = _child('weight initializer', mmdet_registry.WEIGHT_INITIALIZERS, 'models')
TASK_UTILS = _child('task util', mmdet_registry.TASK_UTILS, 'models')

METRICS = _child('metric', mmdet_registry.METRICS, 'evaluation')
EVALUATOR = _child('evaluator', mmdet_registry.EVALUATOR, 'evaluation')

VISUALIZERS = _child('visualizer', mmdet_registry.VISUALIZERS, 'visualization')
VISBACKENDS = _child('vis_backend', mmdet_registry.VISBACKENDS, 'visualization')
