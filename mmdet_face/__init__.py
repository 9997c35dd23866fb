"""mmdet-face: face detectors on MMDetection 3.x. Importing the package registers every module."""
from mmdet.utils import register_all_modules as _register_mmdet_modules

from .version import __version__  # noqa: F401
from . import compat  # noqa: F401  (must run before any checkpoint is loaded)

# Our registries fall back to mmdet's, which only hold what has been imported: import all of mmdet once so
# 'PAFPN', 'DetLocalVisualizer', 'PhotoMetricDistortion' ... resolve from the mmdet_face scope.
_register_mmdet_modules(init_default_scope=False)

from . import datasets, engine, evaluation, models, visualization  # noqa: F401,E402
