"""Importing this module registers every mmdet-face module (and all of mmdet's, which our child registries fall
back to) and installs the checkpoint allow-list of :mod:`mmdet_face.compat`. Configs name it in
``custom_imports``; code calls :func:`mmdet_face.register_all_modules`."""
from mmdet.utils import register_all_modules as _register_mmdet_modules

from . import compat  # noqa: F401  (before any checkpoint is loaded)

_register_mmdet_modules(init_default_scope=False)

from . import datasets, engine, evaluation, models, visualization  # noqa: F401,E402
from .engine import hooks  # noqa: F401,E402
