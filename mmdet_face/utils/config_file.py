"""Reading a config file so that its errors name the file and the line: a syntax error in the config or in a
``_base_`` file it inherits (mmengine parses the sources without their names and reports ``File "<unknown>"``), a
``_base_`` entry that names no file, and an exception raised while the config's code runs (:func:`read_config`).
Merging ``--cfg-options`` so that each override reaches what runs or is refused (:func:`merge_cfg_options`).

Light: importing it imports no torch; mmengine is imported when a config is read.
"""
import ast
import os
import os.path as osp
import re
import traceback
from typing import List, Optional, Tuple


class ConfigFileError(ValueError):
    """A config file that cannot be loaded; the message names the file (and the line) and says what is wrong."""


def read_config(path, name_any_error: bool = False):
    """``mmengine.config.Config.fromfile(path)``, with the errors of the config's own files (it and its
    ``_base_`` chain) raised as :class:`ConfigFileError` naming the file and the line. A missing ``path`` stays a
    ``FileNotFoundError`` naming it.

    Args:
        name_any_error: Also raise an error that is not located in those files (raised by mmengine while loading
            them) as :class:`ConfigFileError` naming ``path`` and the error, instead of re-raising it: for callers
            that read files a user hands them by the dozen (the search's space files, templates and candidate
            configs) and report every failure as one line.
    """
    from mmengine.config import Config
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such config file')
    try:
        return Config.fromfile(path)
    except Exception as exc:  # noqa: BLE001  (re-raised below unless it is located in a config file)
        problem = find_config_problem(path, exc)
        if problem is None:
            if not name_any_error:
                raise
            problem = f'{path}: cannot be loaded as a config: {type(exc).__name__}: {exc}'
        raise ConfigFileError(problem) from exc


def find_config_problem(path: str, exc: Optional[BaseException] = None) -> Optional[str]:
    """A message naming the file and line of what is wrong in the config ``path`` or its ``_base_`` chain: the
    first syntax error or missing ``_base_`` file (files read depth first, a file before its bases), else the place
    in those files where ``exc`` was raised; None when neither is found."""
    files, problem = _walk(osp.abspath(path), set())
    if problem is not None:
        return problem
    if exc is None or isinstance(exc, SyntaxError):
        return None
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if frame.filename and osp.abspath(frame.filename) in files]
    if not frames:
        return None
    frame = frames[-1]
    text = f'\n    {frame.line}' if frame.line else ''
    return f'{frame.filename}, line {frame.lineno}: {type(exc).__name__}: {exc}{text}'


def _walk(path: str, seen: set) -> Tuple[set, Optional[str]]:
    seen.add(path)
    try:
        with open(path, encoding='utf-8') as f:
            source = f.read()
    except (OSError, UnicodeDecodeError) as err:
        return seen, f'{path}: cannot be read as a UTF-8 config file ({err})'
    try:
        tree = compile(source, path, 'exec', ast.PyCF_ONLY_AST)
    except SyntaxError as err:
        return seen, _format_syntax_error(path, err)
    for base in _base_files(tree):
        if '::' in base:  # a config of an installed package (mmdet::...): not ours to check
            continue
        base_path = osp.abspath(osp.join(osp.dirname(path), base))
        if not osp.isfile(base_path):
            return seen, f'{path}: _base_ file {base!r} does not exist ({base_path})'
        if base_path not in seen:
            _, problem = _walk(base_path, seen)
            if problem is not None:
                return seen, problem
    return seen, None


def _base_files(tree: ast.Module) -> List[str]:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == '_base_'):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return []  # not a literal: mmengine reports it
            if isinstance(value, str):
                return [value]
            if isinstance(value, (list, tuple)):
                return [v for v in value if isinstance(v, str)]
    return []


def _format_syntax_error(path: str, err: SyntaxError) -> str:
    where = f', line {err.lineno}' if err.lineno else ''
    text = f'\n    {err.text.rstrip()}' if err.text else ''
    return f'{path}{where}: {type(err).__name__}: {err.msg}{text}'


class CfgOptionsError(ValueError):
    """A ``--cfg-options`` override that would do nothing or something else than asked; the message names it."""


# Top-level entries that code reads after the config is loaded: mmengine's Runner.from_cfg and Runner itself, the
# train / test tools (sync_bn, partial_load, tta_model, tta_pipeline) and a reload of the dumped config
# (custom_imports). Any other top-level entry is a config variable: its value was copied into the entries that use it
# when the file was loaded.
READ_TOP_LEVEL_KEYS = frozenset((
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg', 'val_cfg',
    'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume', 'launcher', 'env_cfg',
    'log_processor', 'log_level', 'visualizer', 'default_scope', 'randomness', 'experiment_name',
    'model_wrapper_cfg', 'find_unused_parameters', 'compile', 'sync_bn', 'custom_imports', 'tta_model',
    'tta_pipeline', 'partial_load'))

# Keys the face heads' post-processing reads from ``test_cfg`` (FaceHeadMixin.predict_by_feat and the per-image
# decodes) and the assigners / options the heads' losses read from ``train_cfg`` (``debug``: set by the SCRFD configs
# after mmdet's convention, read by no head, accepted so that those configs pass).
HEAD_TEST_CFG_KEYS = frozenset(('score_thr', 'nms_pre', 'nms', 'min_bbox_size', 'max_per_img'))
HEAD_TRAIN_CFG_KEYS = frozenset(('assigner', 'assigner_first', 'assigner_second', 'allowed_border', 'pos_weight',
                                 'debug'))
ALWAYS_ALLOWED = frozenset(('type', '_delete_', '_scope_'))
# Untyped top-level sections the runner and the tools read, with their keys (mmengine Runner.set_randomness,
# setup_env, scale_lr; tools/train.py --auto-scale-lr).
RUNNER_SECTION_KEYS = {
    'randomness': ('seed', 'diff_rank_seed', 'deterministic'),
    'auto_scale_lr': ('enable', 'base_batch_size'),
    'env_cfg': ('cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit'),
}
# Keys that mmengine's builders take out of a section before calling its type.
BUILDER_KEYS = {'param_scheduler': ('convert_to_iter_based',), 'custom_hooks': ('priority',),
                'default_hooks': ('priority',), 'optim_wrapper': ('constructor', 'paramwise_cfg')}


def expand_cfg_options(cfg, options: dict) -> dict:
    """Check ``--cfg-options`` against the loaded ``cfg`` and return the overrides to merge.

    * An override of a pipeline variable (``train_pipeline.2.prob=0``, ``test_pipeline.1.scale=(640, 640)``) is
      applied to every dataloader pipeline that holds that variable's value (mmengine copied the list into them
      when the file was loaded) as well as to the variable, so that what runs and the dumped config agree; a
      pipeline variable that no dataloader holds is refused.
    * An override of another config variable (a top-level entry no code reads, e.g. ``data_root``) is refused,
      naming the entries that hold its value.
    * A NaN value (``score_thr=nan`` would silently drop every box) is refused.
    * A key added to a section whose keys are known is refused with the closest valid key: a registered type's
      constructor arguments (models, transforms, datasets, assigners, hooks, metrics, ...), the heads'
      ``test_cfg`` / ``train_cfg`` keys, the top-level entries. Keys already in the config are accepted as they are.
    """
    expanded = {}
    for key, value in options.items():
        if _has_nan(value):
            raise CfgOptionsError(f'--cfg-options {key}: NaN is not a value any setting takes')
        parts = key.split('.')
        root = parts[0]
        if root not in cfg:
            if root not in READ_TOP_LEVEL_KEYS:
                raise CfgOptionsError(_unknown(key, root, 'the config has no top-level entry',
                                               set(cfg.keys()) | READ_TOP_LEVEL_KEYS))
            if len(parts) > 1 and root in RUNNER_SECTION_KEYS and parts[1] not in RUNNER_SECTION_KEYS[root]:
                raise CfgOptionsError(_unknown(key, parts[1], f'{root} takes no key', RUNNER_SECTION_KEYS[root]))
            expanded[key] = value
            continue
        if root not in READ_TOP_LEVEL_KEYS:
            copies = _copies_of(cfg, root)
            if root.endswith('_pipeline') and isinstance(cfg[root], list):
                if not copies:
                    loader = root.replace('_pipeline', '_dataloader')
                    loader = loader if loader in cfg else 'test_dataloader'
                    raise CfgOptionsError(
                        f'--cfg-options {key}: no dataloader uses {root} (each dataloader holds its own copy of a '
                        f'pipeline, made when the config was loaded), so this would change nothing that runs; '
                        f'override the dataloader\'s pipeline instead (e.g. '
                        f'{loader}.dataset.pipeline{key[len(root):]})')
                for path in copies:
                    copy_key = '.'.join([path] + parts[1:])
                    _check_added_key(cfg, copy_key, copy_key.split('.'), {}, shown=key)
                    expanded[copy_key] = value
                expanded[key] = value
                continue
            where = (f'override {", ".join(copies)} instead' if copies else
                     'override the entries that use it instead')
            raise CfgOptionsError(
                f'--cfg-options {key}: {root} is a config variable, copied into the entries that use it when the '
                f'config was loaded, so overriding it changes nothing that runs; {where}')
        _check_added_key(cfg, key, parts, options)
        expanded[key] = value
    return expanded


def _has_nan(value) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_nan(v) for v in value)
    return False


def merge_cfg_options(cfg, options: Optional[dict]):
    """``cfg.merge_from_dict`` of the overrides :func:`expand_cfg_options` accepts (:class:`CfgOptionsError`
    otherwise, before anything is merged)."""
    if options:
        cfg.merge_from_dict(expand_cfg_options(cfg, options))
    return cfg


def _copies_of(cfg, root: str) -> List[str]:
    """Dotted paths of the entries under the read top-level entries whose value equals ``cfg[root]`` (for a
    string, also those that start with it: paths built from a ``data_root``)."""
    target = _plain(cfg[root])
    found = []

    def visit(node, path):
        if path and (_plain(node) == target or (isinstance(target, str) and isinstance(node, str)
                                                 and node.startswith(target))):
            found.append(path)
            return
        if isinstance(node, dict):
            for k, v in node.items():
                visit(v, f'{path}.{k}' if path else k)
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                visit(v, f'{path}.{i}')

    if isinstance(target, (dict, list, tuple)) or (isinstance(target, str) and target):
        for top in sorted(READ_TOP_LEVEL_KEYS):
            if top in cfg:
                visit(cfg[top], top)
    return found


def _plain(node):
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def _check_added_key(cfg, key: str, parts: List[str], options: dict, shown: Optional[str] = None) -> None:
    """Refuse ``key`` (``parts`` split) when it adds a key the section cannot take; ``shown`` is the key the user
    gave, when ``key`` is its copy into a dataloader."""
    node, depth = {name: cfg[name] for name in cfg.keys()}, 0
    while depth < len(parts):
        part = parts[depth]
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            break
        depth += 1
    if depth == len(parts) or not isinstance(node, dict):
        return  # the key exists (the config's own), or its parent is not a section (mmengine reports it)
    added, parent = parts[depth], '.'.join(parts[:depth])
    if added in ALWAYS_ALLOWED:
        return
    known, what = section_keys(parts[:depth], node, options)
    if known is None or added in known:
        return
    if shown is not None:
        parent = f'{parent}, built from {shown.split(".")[0]}'
    raise CfgOptionsError(_unknown(shown or key, added, f'{what} ({parent}) takes no key', known))


def section_keys(path: List[str], node: dict, options: Optional[dict] = None) -> Tuple[Optional[set], str]:
    """``(keys, what)``: the keys the code reads in the section ``node`` found at ``path`` (keys from the top of
    the config; ``options`` may change its ``type``), or None when they cannot be known; ``what`` names the
    section's reader for messages."""
    if not path or (path[-1].endswith('_cfg') and path[-1] not in ('train_cfg', 'test_cfg')):
        return None, ''  # layer configs (norm_cfg, act_cfg, init_cfg ...): their builders take keys of their own
    section_type = (options or {}).get(f'{".".join(path)}.type', node.get('type'))
    known, what = _known_keys(path, section_type, node)
    if known is not None:
        known = set(known) | set(BUILDER_KEYS.get(path[0], ())) | ALWAYS_ALLOWED
    return known, what


def _known_keys(path: List[str], section_type, node: dict) -> Tuple[Optional[set], str]:
    """The keys the code reads in the section at ``path`` (a list of keys from the top), or None when unknown."""
    if section_type is not None:
        cls = _registered(path, section_type)
        if cls is None:
            return None, ''
        keys = constructor_keys(cls)
        name = section_type if isinstance(section_type, str) else getattr(section_type, '__name__', '?')
        return keys, f'{name}'
    if len(path) == 1 and path[0] in RUNNER_SECTION_KEYS:
        return set(RUNNER_SECTION_KEYS[path[0]]), path[0]
    if len(path) == 1 and path[0].endswith('_dataloader'):
        return dataloader_keys(), 'the dataloader'
    if len(path) == 1 and path[0] in ('train_cfg', 'val_cfg', 'test_cfg'):
        loop = {'val_cfg': 'ValLoop', 'test_cfg': 'TestLoop'}.get(path[0])
        if loop is None:
            loop = 'EpochBasedTrainLoop' if node.get('by_epoch', True) else 'IterBasedTrainLoop'
        keys = (constructor_keys(_registered(path, loop)) or set()) - {'runner', 'dataloader'}  # the runner's
        return keys | {'by_epoch'}, f'{path[0]} ({loop})'
    if path and path[0] in ('model', 'tta_model') and len(path) >= 2 and path[-1] == 'test_cfg':
        return set(HEAD_TEST_CFG_KEYS), 'the head\'s test_cfg'
    if path and path[0] == 'model' and len(path) >= 2 and path[-1] == 'train_cfg':
        return set(HEAD_TRAIN_CFG_KEYS), 'the head\'s train_cfg'
    return None, ''


_TASK_UTIL_KEYS = ('assigner', 'assigner_first', 'assigner_second', 'sampler', 'anchor_generator',
                   'prior_generator', 'bbox_coder', 'kps_coder', 'coder')


def dataloader_keys() -> set:
    """The keys of a ``*_dataloader`` section: ``torch.utils.data.DataLoader``'s arguments and those mmengine's
    ``Runner.build_dataloader`` takes out first."""
    from torch.utils.data import DataLoader
    return (constructor_keys(DataLoader) or set()) | {'dataset', 'sampler', 'batch_sampler', 'collate_fn',
                                                       'worker_init_fn', 'num_batch_per_epoch', 'persistent_workers',
                                                       'disable_subprocess_warning'}


def _registered(path: List[str], section_type):
    """The class (or function) ``section_type`` names, looked up in the registry the section's place implies."""
    if not isinstance(section_type, str):
        return section_type if callable(section_type) else None
    from mmengine.registry import DefaultScope

    from mmdet_face import registry as r
    top, last = path[0], path[-1] if path else ''
    if any('pipeline' in p or p == 'transforms' for p in path):
        order = [r.TRANSFORMS]
    elif top.endswith('_dataloader'):
        order = [r.DATA_SAMPLERS] if last in ('sampler', 'batch_sampler') else [r.DATASETS]
    elif top in ('model', 'tta_model', 'data_preprocessor'):
        order = [r.TASK_UTILS, r.MODELS] if last in _TASK_UTIL_KEYS else [r.MODELS, r.TASK_UTILS]
    elif top in ('default_hooks', 'custom_hooks'):
        order = [r.HOOKS]
    elif top == 'optim_wrapper':
        order = [r.OPTIMIZERS] if last == 'optimizer' else [r.OPTIM_WRAPPERS]
    elif top == 'param_scheduler':
        order = [r.PARAM_SCHEDULERS]
    elif top.endswith('_evaluator'):
        order = [r.METRICS, r.EVALUATOR]
    elif top == 'visualizer':
        order = [r.VISBACKENDS] if 'vis_backends' in path else [r.VISUALIZERS]
    elif top in ('train_cfg', 'val_cfg', 'test_cfg'):
        order = [r.LOOPS]
    else:
        return None
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        for registry in order:
            try:
                found = registry.get(section_type)
            except Exception:  # noqa: BLE001  (a registry that cannot resolve the name: unknown, not an error)
                found = None
            if found is not None:
                return found
    return None


def constructor_keys(cls) -> Optional[set]:
    """The keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the class hierarchy; None when they
    cannot be known (``**kwargs`` read by name, or a signature that cannot be inspected)."""
    import inspect
    if not inspect.isclass(cls):
        return _params(cls, skip_first=False)
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        if klass is object or klass.__module__.startswith('torch.nn'):
            return names  # nn.Module / object take no keyword arguments of their own
        params = _params(init, skip_first=True)
        if params is None:
            return None
        names |= params - {'**'}
        if '**' not in params:
            return names
    return names


def _params(func, skip_first: bool) -> Optional[set]:
    import inspect
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())[1 if skip_first else 0:]
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_kw = [p.name for p in params if p.kind == p.VAR_KEYWORD]
    if var_kw:
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            return None
        name = var_kw[0]
        # Followed up the class hierarchy only when the keyword arguments go, untouched, to super().__init__ and
        # nowhere else; read by name or passed elsewhere, their keys cannot be listed.
        uses = re.findall(rf'\b{name}\b', source)
        to_super = re.findall(rf'super\([^()]*\)\.__init__\((?:[^()]|\([^()]*\))*\*\*{name}\s*\)', source)
        if not skip_first or len(to_super) != 1 or len(uses) != 2:
            return None
        names.add('**')
    return names


def _unknown(key: str, name: str, what: str, known) -> str:
    import difflib
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ''
    shown = sorted(set(known) - ALWAYS_ALLOWED)
    listing = '' if close or len(shown) > 40 else f' (it takes: {", ".join(shown)})'
    return f'--cfg-options {key}: {what} {name!r}{hint}{listing}'
