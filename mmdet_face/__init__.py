"""mmdet-face: face detectors on MMDetection 3.x. Importing the package registers every module."""
from .version import __version__  # noqa: F401
from . import compat  # noqa: F401  (must run before any checkpoint is loaded)
from . import datasets, evaluation, models  # noqa: F401
