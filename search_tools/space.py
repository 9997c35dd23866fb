"""Search spaces of the SCRFD-style search: reading a space file and drawing raw samples from it.

Sample and Computation Redistribution for Efficient Face Detection (Guo et al., ICLR 2022): a random search, in
two steps, of how a fixed FLOPs budget is split: step 1 (``'backbone'``) across the stem and C2..C5 with neck
and head from a template, step 2 (``'full'``) across backbone, neck and head around the step-1 winner.

- A space is data: an mmengine-style ``.py`` file in ``search_tools/spaces/`` (``resnet``, ``mobilenet``,
  ``scrfd``) or any path, listing each dimension's type, range, step and the tie rules (:func:`load_space`).
- :meth:`SearchSpace.sample` draws raw parameters through anything with Optuna's ``suggest_*`` methods: an
  ``optuna.Trial`` or :class:`RandomSuggester`.

What a raw sample becomes is the next modules' job: ``search_tools.projection`` (a :class:`Candidate` inside the
budget), ``search_tools.scrfd_replay`` (the released generator's rules, for the ``scrfd`` space) and
``search_tools.candidates`` (seeded drawing of many candidates and writing them as configs).
"""
import copy
import json
import math
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from search_tools.arch import read_config

__all__ = ['SearchSpace', 'RandomSuggester', 'InfeasibleBudget', 'load_space', 'in_band', 'check_step',
           'canonical_arch', 'SPACES_DIR', 'STEPS']

SPACES_DIR = Path(__file__).resolve().parent / 'spaces'
STEPS = ('backbone', 'full')
DIM_TYPES = ('int', 'float', 'choice')
FAMILIES = ('ResNetV1e', 'MobileNetV1')


class InfeasibleBudget(ValueError):
    """A sample cannot be brought inside the FLOPs budget; the message says why."""



class RandomSuggester:
    """Optuna-like ``suggest_*`` on a numpy ``Generator``: independent uniform draws (log-uniform with ``log``).

    ``params`` records every value drawn, by name, like ``optuna.Trial.params``.
    """

    def __init__(self, rng=None):
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.params = {}

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        if high < low or step < 1:
            raise ValueError(f'{name}: need low <= high and step >= 1, got {low}, {high}, {step}')
        if log:
            value = math.exp(self.rng.uniform(math.log(low - 0.5 if low > 0.5 else low), math.log(high + 0.5)))
            value = int(min(high, max(low, low + round((value - low) / step) * step)))
        else:
            value = int(low + step * self.rng.integers(0, (high - low) // step + 1))
        self.params[name] = value
        return value

    def suggest_float(self, name: str, low: float, high: float, log: bool = False, step=None) -> float:
        if high < low:
            raise ValueError(f'{name}: need low <= high, got {low}, {high}')
        value = float(math.exp(self.rng.uniform(math.log(low), math.log(high))) if log
                      else self.rng.uniform(low, high))
        if step:
            value = float(min(high, low + round((value - low) / step) * step))
        self.params[name] = value
        return value

    def suggest_categorical(self, name: str, choices: Sequence):
        value = choices[int(self.rng.integers(0, len(choices)))]
        self.params[name] = value
        return value


# --------------------------------------------------------------------------------------------- space data
def _expand(key: str, spec, where: str) -> List[Tuple[str, dict]]:
    """A space entry -> [(parameter name, dimension)]: a dict with ``num=k`` gives ``key_0..key_k-1``, a list
    concatenates its entries' expansions."""
    if isinstance(spec, (list, tuple)):
        items = []
        for sub in spec:
            items += _expand(key, sub, where)
        return [(f'{key}_{i}', dim) for i, (_, dim) in enumerate(items)] if len(items) > 1 else items
    if not isinstance(spec, dict) or spec.get('type') not in DIM_TYPES:
        raise ValueError(f'{where}: {key}: a dimension is dict(type={"|".join(DIM_TYPES)}, ...), got {spec!r}')
    dim = dict(spec)
    if dim['type'] == 'choice':
        if not dim.get('choices'):
            raise ValueError(f'{where}: {key}: choice needs a non-empty choices list')
    else:
        if 'low' not in dim or 'high' not in dim or dim['low'] > dim['high']:
            raise ValueError(f'{where}: {key}: needs low <= high, got {dim}')
        if dim.get('log') and dim['low'] <= 0:
            raise ValueError(f'{where}: {key}: a log dimension needs low > 0')
        if dim['type'] == 'int' and int(dim.get('step', 1)) < 1:
            raise ValueError(f'{where}: {key}: step must be >= 1')
    num = int(dim.pop('num', 1))
    if num < 1:
        raise ValueError(f'{where}: {key}: num must be >= 1')
    return [(f'{key}_{i}', dim) for i in range(num)] if num > 1 else [(key, dim)]


def draw_dimension_batch(rng: np.random.Generator, dim: dict, size: int) -> np.ndarray:
    """``size`` independent draws of one dimension, distributed as :class:`RandomSuggester` draws it (uniform,
    log-uniform with ``log``, rounded to ``step``); a choice gives indices into its ``choices``."""
    if dim['type'] == 'choice':
        return rng.integers(0, len(dim['choices']), size)
    low, high = dim['low'], dim['high']
    if dim['type'] == 'int':
        low, high, step = int(low), int(high), int(dim.get('step', 1))
        if not dim.get('log', False):
            return low + step * rng.integers(0, (high - low) // step + 1, size)
        value = np.exp(rng.uniform(math.log(low - 0.5 if low > 0.5 else low), math.log(high + 0.5), size))
        return np.minimum(high, np.maximum(low, low + np.round((value - low) / step) * step)).astype(np.int64)
    low, high = float(low), float(high)
    value = (np.exp(rng.uniform(math.log(low), math.log(high), size)) if dim.get('log', False)
             else rng.uniform(low, high, size))
    if dim.get('step'):
        value = np.minimum(high, low + np.round((value - low) / dim['step']) * dim['step'])
    return value


def draw_dimension(suggest, name: str, dim: dict):
    if dim['type'] == 'int':
        return int(suggest.suggest_int(name, int(dim['low']), int(dim['high']), step=int(dim.get('step', 1)),
                                       log=bool(dim.get('log', False))))
    if dim['type'] == 'float':
        return float(suggest.suggest_float(name, float(dim['low']), float(dim['high']),
                                           log=bool(dim.get('log', False))))
    return suggest.suggest_categorical(name, list(dim['choices']))


REQUIRED = {False: dict(backbone=('stem_channels', 'stage_blocks', 'width_ratios'),
                        full=('depth_scale', 'width_scale', 'neck_channels', 'head_channels', 'head_convs',
                              'head_norm', 'strides_share', 'use_kps')),
            True: dict(backbone=('block', 'base_channels', 'stage_blocks', 'stage_planes_ratio'),
                       full=('stage_blocks_ratio', 'base_channels_ratio', 'fpn_channel', 'head_channel',
                             'head_stack'))}


class SearchSpace:
    """A search space read from its data file (see ``spaces/resnet.py`` for the format).

    Attributes:
        name (str): ``resnet``, ``mobilenet``, ``scrfd`` or the file's stem.
        family (str): ``ResNetV1e`` or ``MobileNetV1``.
        faithful (bool): The released SCRFD rules (rejection, no projection).
        data (dict): The file's content.
    """

    def __init__(self, data: dict, name: str, source: str = '<dict>'):
        self.name = name
        self.source = source
        self.data = copy.deepcopy(data)
        self.family = data.get('family')
        self.faithful = bool(data.get('faithful', False))
        if self.family not in FAMILIES:
            raise ValueError(f'{source}: family must be one of {FAMILIES}, got {self.family!r}')
        if self.faithful and self.family != 'ResNetV1e':
            raise ValueError(f'{source}: the faithful SCRFD rules exist for ResNetV1e only')
        self.dims = {}
        for step in STEPS:
            spec = data.get(step)
            if not isinstance(spec, dict):
                raise ValueError(f'{source}: {step}: a dict of dimensions is required')
            missing = [k for k in REQUIRED[self.faithful][step] if k not in spec]
            if missing:
                raise ValueError(f'{source}: {step}: missing dimensions {missing}')
            self.dims[step] = {key: _expand(key, value, f'{source}: {step}') for key, value in spec.items()}
        if self.family == 'ResNetV1e' and not self.faithful:
            if 'block' not in self.dims['backbone']:
                raise ValueError(f'{source}: backbone: the ResNetV1e space needs a block dimension')
        self.ties = dict(stem_equals_c2=self.family == 'ResNetV1e', non_decreasing_widths=True, gn_groups=(16, 8))
        self.ties.update(data.get('ties', {}))
        if not self.faithful:
            self.width_step = int(data.get('width_step', 8))
            self.width_range = tuple(int(v) for v in data.get('width_range', (8, 1024)))
            self.depth_range = tuple(int(v) for v in data.get('depth_range', (1, 32)))
            if self.width_step < 1 or not 1 <= self.width_range[0] <= self.width_range[1]:
                raise ValueError(f'{source}: width_step/width_range: need step >= 1 and 1 <= low <= high')
            chain = self._chain_length()
            ratios = len(self.dims['backbone']['width_ratios'])
            if ratios != chain - 1:
                raise ValueError(f'{source}: backbone.width_ratios: {chain} widths need {chain - 1} ratios, '
                                 f'got {ratios}')
            if len(self.dims['backbone']['stage_blocks']) != 4:
                raise ValueError(f'{source}: backbone.stage_blocks: need num=4 (C2..C5)')
        for key in ('step1_template', 'reference'):
            if key not in data:
                raise ValueError(f'{source}: {key} is required')
        self.reference = canonical_arch(data['reference'])
        self.step1_template = copy.deepcopy(data['step1_template'])

    def __repr__(self):
        return f'SearchSpace({self.name!r}, family={self.family}, faithful={self.faithful})'

    def _chain_length(self) -> int:
        if self.family == 'MobileNetV1':
            return 6
        return 4 if self.ties['stem_equals_c2'] else 5

    def dimensions(self, step: str = 'backbone') -> List[Tuple[str, dict]]:
        """``[(parameter name, dimension)]`` drawn by :meth:`sample` for ``step``."""
        check_step(step)
        return [item for items in self.dims[step].values() for item in items]

    def sample(self, suggest, step: str = 'backbone', template: Optional[dict] = None) -> dict:
        """Draw one raw sample.

        Args:
            suggest: ``optuna.Trial`` or :class:`RandomSuggester` (``suggest_int/float/categorical``).
            step: ``'backbone'`` (SCRFD step 1) or ``'full'`` (step 2).
            template: Unused by the draw itself (step-2 values are relative to the template); accepted so that
                callers pass the same arguments to :meth:`sample` and ``search_tools.projection.project``.

        Returns:
            dict: ``{'step': step, key: value or [values]}``; a key with several draws (``num`` or a list in the
            space file) holds a list. JSON-able.
        """
        check_step(step)
        raw = {'step': step}
        for key, items in self.dims[step].items():
            values = [draw_dimension(suggest, name, dim) for name, dim in items]
            raw[key] = values if len(items) > 1 else values[0]
        return raw

    def sample_batch(self, rng: np.random.Generator, step: str = 'backbone', size: int = 1) -> dict:
        """Draw ``size`` raw samples at once, as columns: what :meth:`sample` draws one at a time (every dimension
        independent, the same distributions), from another random stream.

        Returns:
            dict: ``{key: np.ndarray}``, shape ``(size,)`` for a key drawn once, ``(size, k)`` for ``k`` draws;
            a choice dimension holds indices into its ``choices``. :meth:`batch_row` gives one row as
            :meth:`sample` returns it.
        """
        check_step(step)
        columns = {}
        for key, items in self.dims[step].items():
            values = [draw_dimension_batch(rng, dim, size) for _, dim in items]
            columns[key] = np.stack(values, axis=1) if len(items) > 1 else values[0]
        return columns

    def batch_row(self, columns: dict, index: int, step: str = 'backbone') -> dict:
        """Row ``index`` of :meth:`sample_batch`'s columns as the raw sample :meth:`sample` returns."""
        raw = {'step': step}
        for key, items in self.dims[step].items():
            row = np.atleast_1d(columns[key][index])
            values = [dim['choices'][int(v)] if dim['type'] == 'choice' else
                      (int(v) if dim['type'] == 'int' else float(v)) for (_, dim), v in zip(items, row)]
            raw[key] = values if len(items) > 1 else values[0]
        return raw


def check_step(step: str) -> None:
    if step not in STEPS:
        raise ValueError(f'step must be one of {STEPS}, got {step!r}')


def canonical_arch(arch: dict) -> dict:
    """A deep, JSON-clean copy (lists, ints) of an arch dict."""
    return json.loads(json.dumps(arch))


def load_space(name_or_path: str) -> SearchSpace:
    """Load ``'resnet'``, ``'mobilenet'``, ``'scrfd'`` (files in ``search_tools/spaces/``) or a space file path.

    Raises:
        FileNotFoundError: a space file that does not exist.
        ValueError: an unknown space name, or a file that is not a valid space (the message names the file, and the
            line of a syntax error).
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = SPACES_DIR / f'{name_or_path}.py'
        if not path.is_file():
            known = sorted(p.stem for p in SPACES_DIR.glob('*.py'))
            raise ValueError(f'unknown search space {name_or_path!r}: expected one of {known} or a .py file')
    elif not path.is_file():
        raise FileNotFoundError(f'search space file {path} does not exist')
    data = read_config(path).to_dict()
    if data.get('family') == 'DamoFD':
        raise ValueError(f'{path}: a DamoFD block space (mutations of structure strings, read by '
                         'search_tools.damofd_space), not a space that sample draws candidates from')
    return SearchSpace(data, path.stem, str(path))



def in_band(flops: float, gflops: float, tolerance: float) -> bool:
    """Whether ``flops`` lies in the budget band, the released check: ``(1 - eps) * target <= flops <=
    (1 + eps) * target``."""
    return (1.0 - tolerance) * gflops * 1e9 <= flops <= (1.0 + tolerance) * gflops * 1e9
