"""Importing this module imports all modules of mmdet-face (and of mmdet, which our child registries fall back to),
so that every registry is complete, and installs the checkpoint allow-list of :mod:`mmdet_face.compat`. Configs
name it in ``custom_imports``; code calls :func:`mmdet_face.register_all_modules`. (The registries themselves are
:mod:`mmdet_face.registry`.)"""
from mmdet.utils import register_all_modules as _register_mmdet_modules

from . import compat  # noqa: F401  (before any checkpoint is loaded)

_register_mmdet_modules(init_default_scope=False)

from . import datasets, engine, evaluation, models, visualization  # noqa: F401,E402
from .engine import hooks  # noqa: F401,E402
from .deployment import onnx_face_model  # noqa: F401,E402  (OnnxFaceModel: an ONNX file in the test loop)
