"""Run the command-line tools of ``tools/`` and ``search_tools/`` from tests: in this process (:func:`load_tool`, then
call its ``main``) or as the user runs them (:func:`run_tool`). Both take the tool's path relative to the repository
root, the string ``tests/test_entry_points.py`` looks for to know that a test runs the tool."""
import importlib.util
import subprocess
import sys

from tests.helpers.paths import REPO_ROOT


def load_tool(relpath):
    """The tool at ``REPO_ROOT / relpath`` loaded as a fresh module (its ``__main__`` block does not run)."""
    path = REPO_ROOT / relpath
    spec = importlib.util.spec_from_file_location('tool_' + path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(relpath, *args, timeout=300, **kwargs):
    """Run the tool as a user does (``python TOOL ARGS`` or ``bash TOOL ARGS``) from the repository root;
    returns the ``CompletedProcess`` with text stdout / stderr."""
    program = ['bash'] if str(relpath).endswith('.sh') else [sys.executable]
    return subprocess.run(program + [str(relpath), *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def random_checkpoint(config, path):
    """Save the freshly initialised model of ``config`` (a path) as a checkpoint at ``path``; returns ``path``.
    Tools that load a checkpoint strictly run on it without any training."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet_face.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, path)
    return path
