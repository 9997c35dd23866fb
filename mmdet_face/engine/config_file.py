"""Reading a config file so that its errors name the file and the line: a syntax error in the config or in a
``_base_`` file it inherits (mmengine parses the sources without their names and reports ``File "<unknown>"``), a
``_base_`` entry that names no file, and an exception raised while the config's code runs.

Light: importing it imports no torch; mmengine is imported when a config is read.
"""
import ast
import os
import os.path as osp
import traceback
from typing import List, Optional, Tuple


class ConfigFileError(ValueError):
    """A config file that cannot be loaded; the message names the file (and the line) and says what is wrong."""


def read_config(path):
    """``mmengine.config.Config.fromfile(path)``, with the errors of the config's own files (it and its
    ``_base_`` chain) raised as :class:`ConfigFileError` naming the file and the line. A missing ``path`` stays a
    ``FileNotFoundError`` naming it."""
    from mmengine.config import Config
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such config file')
    try:
        return Config.fromfile(path)
    except Exception as exc:  # noqa: BLE001  (re-raised below unless it is located in a config file)
        problem = find_config_problem(path, exc)
        if problem is None:
            raise
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
