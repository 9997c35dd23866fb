"""Training-time pieces: hooks (:mod:`.hooks`, registered in HOOKS), the checks that keep a work dir's runs apart
(:mod:`.run_dir`), the shared command-line pieces (:mod:`.cli`) and the one model-running test path of the test
tools (:mod:`.evaluate`: test config, model run, submission scoring). Loaded on first use, so the light parts
(``cli``, ``evaluate``'s scoring of a submission folder) import no torch."""
import importlib

_LAZY = {name: 'hooks' for name in ('AverageBuffersHook', 'FiniteCheckHook', 'TrainingDivergedError',
                                     'non_finite_tensors')}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f'{__name__}.{_LAZY[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
