"""Shims for the stack we run on. Each one says why it exists."""
import codecs

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

# torch >= 2.6 loads checkpoints with ``weights_only=True``, and mmengine 0.10 saves its message hub
# (``HistoryBuffer`` objects holding numpy arrays) in every checkpoint, so ``--resume`` fails with "Weights only
# load failed". We keep the safe loader and allow-list exactly the globals those checkpoints contain.
#
# One of them cannot be allow-listed safely: ``HistoryBuffer.__getstate__`` pickles its class-level table of
# statistics methods, which pickle writes as ``getattr(HistoryBuffer, 'min')``, and allowing ``getattr`` would
# let a crafted file reach arbitrary attributes. The four built-in statistics are re-registered by every
# ``HistoryBuffer.__init__``/``__setstate__`` anyway, so we save only custom ones (by reference, as before).
_BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getstate(self):
    state = dict(self.__dict__)
    custom = {name: method for name, method in self._statistics_methods.items()
              if not (name in _BUILTIN_STATISTICS and method is getattr(HistoryBuffer, name))}
    if custom:
        state['statistics_methods'] = custom
    else:
        state.pop('statistics_methods', None)
    return state


def _history_buffer_setstate(self, state):
    state = dict(state)
    statistics_methods = state.pop('statistics_methods', {})
    self.__dict__.update(state)
    self._set_default_statistics()
    self._statistics_methods.update(statistics_methods)


def _numpy_checkpoint_globals():
    """The numpy objects that pickled arrays, scalars and dtypes reference (numpy 1 and 2 layouts)."""
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    objs = [np.ndarray, np.dtype, _reconstruct, scalar, codecs.encode]
    if hasattr(np, 'dtypes'):  # numpy >= 1.25 pickles dtypes through these classes
        objs += [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')]
    return objs


def allow_mmengine_checkpoint_globals():
    """Make mmengine checkpoints loadable with ``torch.load(weights_only=True)`` (idempotent)."""
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    HistoryBuffer.__setstate__ = _history_buffer_setstate
    if hasattr(torch.serialization, 'add_safe_globals'):  # torch >= 2.4
        torch.serialization.add_safe_globals([HistoryBuffer, *_numpy_checkpoint_globals()])


allow_mmengine_checkpoint_globals()
