"""The registries of mmdet-face: one child of each MMDetection registry, under the scope ``mmdet_face`` (the
mmyolo pattern).

Each is ``mmengine.registry.Registry(name, parent=<mmdet's registry of that name>, locations=[...])``; the scope
``mmdet_face`` is inferred from this package's name. What follows from that (mmengine 0.10):

- Our classes register here (``@MODELS.register_module()`` ...), never into mmdet's registries: mmdet's
  ``Resize`` and our ``FaceResize`` live side by side, and no class of ours registers under a name of mmdet's.
- ``get('X')`` (a name without scope) looks in this registry, then in mmdet's and further up the parent chain
  (mmcv's / mmengine's), and takes the first hit: ``PAFPN``, ``QualityFocalLoss``, ``LoadImageFromFile`` resolve to
  mmdet's / mmcv's classes. A parent is searched among the names *already registered* in it; mmengine does not run
  the parent's imports then, which is why mmdet-face registers all of mmdet's modules
  (``mmdet.utils.register_all_modules``) when it registers its own.
- ``get('mmdet.X')`` goes to mmdet's registry only (through the root registry's children), ``get('mmdet_face.X')``
  to ours only.
- A config with ``default_scope = 'mmdet_face'`` makes ``Runner`` / ``build_from_cfg`` switch every build to
  these registries (mmengine finds the registry of the default scope among the root's descendants), so the
  rules above apply to every ``type=`` in it.
- ``locations`` are modules imported once, on a registry's first ``get`` / ``build``, so that their
  ``register_module`` decorators have run: building from a config works without importing our modules first.
- Every mmdet registry has a child here, so mmengine never warns that the ``mmdet_face`` scope has no registry
  of some kind (it would then build from the registry it was called with).
"""
from mmdet import registry as mmdet_registry
from mmengine.registry import Registry


def _child(name, parent, *locations):
    # the parent's locations too: a child looks names up in its parent without importing the parent's modules
    return Registry(name, parent=parent,
                    locations=[f'mmdet_face.{loc}' for loc in locations] + list(parent._locations))


RUNNERS = _child('runner', mmdet_registry.RUNNERS, 'engine')
RUNNER_CONSTRUCTORS = _child('runner constructor', mmdet_registry.RUNNER_CONSTRUCTORS, 'engine')
LOOPS = _child('loop', mmdet_registry.LOOPS, 'engine')
HOOKS = _child('hook', mmdet_registry.HOOKS, 'engine.hooks')
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

METRICS = _child('metric', mmdet_registry.METRICS, 'evaluation.metrics')
EVALUATOR = _child('evaluator', mmdet_registry.EVALUATOR, 'evaluation.metrics')

VISUALIZERS = _child('visualizer', mmdet_registry.VISUALIZERS, 'visualization')
VISBACKENDS = _child('vis_backend', mmdet_registry.VISBACKENDS, 'visualization')
