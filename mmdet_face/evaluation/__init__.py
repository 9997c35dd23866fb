"""WIDER FACE, AFW / PASCAL Face, COCO-style and landmark evaluation, and WIDER FACE test submissions.
:mod:`.functional` is numpy-only and imported here; the mmengine metrics (:mod:`.metrics`, registered in METRICS)
load on first use, so ``import mmdet_face.evaluation`` imports no torch."""
import importlib

from .functional import *  # noqa: F401,F403
from .functional import __all__ as _functional_all

_LAZY = {'WiderFaceMetric': 'metrics', 'FaceKeypointMetric': 'metrics', 'WiderFaceSubmissionMetric': 'metrics',
         'FaceCocoMetric': 'metrics', 'AFWPascalMetric': 'metrics',
         'FDDBMetric': 'metrics'}

__all__ = list(_functional_all) + list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f'{__name__}.{_LAZY[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
