"""mmdet-face: face detectors on MMDetection 3.x.

``import mmdet_face`` is light: it imports no torch, mmengine or mmdet, so the numpy-only pieces (the WIDER FACE
evaluator in :mod:`mmdet_face.evaluation.functional`, :mod:`mmdet_face.keypoints`) can be used on their own.
Subpackages load on first use (``mmdet_face.models``, ``mmdet_face.apis`` ...), and the registries import the
modules a config names when it is built (``locations`` in :mod:`mmdet_face.registry`, as mmyolo does).

:func:`register_all_modules` (or ``import mmdet_face.all_modules``, which configs name in ``custom_imports``)
registers everything at once and installs the checkpoint allow-list of :mod:`mmdet_face.compat`.
"""
import importlib

from .version import __version__

_SUBMODULES = ('all_modules', 'apis', 'compat', 'datasets', 'deployment', 'engine', 'evaluation', 'keypoints', 'models',
               'register', 'registry', 'visualization')

__all__ = ['__version__', 'register_all_modules', *_SUBMODULES]


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every module of mmdet-face and mmdet so that their registries are complete, install the checkpoint
    allow-list (:mod:`mmdet_face.compat`) and, with ``init_default_scope``, make ``mmdet_face`` the default
    scope (what tools call before building from a config)."""
    importlib.import_module(f'{__name__}.all_modules')
    if init_default_scope:
        from mmengine.registry import DefaultScope, init_default_scope as _init
        current = DefaultScope.get_current_instance()
        if current is None or current.scope_name != 'mmdet_face':
            _init('mmdet_face')


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
