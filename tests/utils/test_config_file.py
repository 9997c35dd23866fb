"""A config that cannot be loaded is an error naming the file and the line: a syntax error in the config or in a
``_base_`` file (mmengine reports ``File "<unknown>"``), a missing ``_base_`` file, an exception in the config's
code; the tools end with that message on stderr and no traceback."""
import os
import subprocess
import sys

import pytest

from mmdet_face.utils.config_file import ConfigFileError, read_config
from tests.helpers.paths import REPO_ROOT as REPO
from tests.helpers.tools import load_tool


def _write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return str(path)


def test_syntax_error_in_the_config_names_it(tmp_path):
    config = _write(tmp_path, 'bad.py', 'a = 1\nb = (\n')
    with pytest.raises(ConfigFileError) as info:
        read_config(config)
    message = str(info.value)
    assert message.startswith(f'{config}, line 2: SyntaxError: ') and 'b = (' in message
    assert '<unknown>' not in message


@pytest.mark.parametrize('body, line, kind', [('x = 1\ny = = 2\n', 2, 'SyntaxError'),
                                              ('x = 1\n  y = 2\n', 2, 'IndentationError')])
def test_error_in_a_base_file_names_the_base(tmp_path, body, line, kind):
    (tmp_path / 'base').mkdir()
    base = _write(tmp_path / 'base', 'broken.py', body)
    _write(tmp_path, 'middle.py', "_base_ = ['./base/broken.py']\nm = 1\n")
    child = _write(tmp_path, 'child.py', "_base_ = './middle.py'\nc = 2\n")
    with pytest.raises(ConfigFileError, match=rf'^{base}, line {line}: {kind}: '):
        read_config(child)


def test_missing_base_file_names_the_config_that_lists_it(tmp_path):
    child = _write(tmp_path, 'child.py', "_base_ = ['./nowhere.py']\n")
    with pytest.raises(ConfigFileError, match=rf"^{child}: _base_ file './nowhere.py' does not exist"):
        read_config(child)


def test_exception_in_a_base_files_code_names_file_and_line(tmp_path):
    base = _write(tmp_path, 'base.py', 'a = 1\nb = undefined_name + 1\n')
    child = _write(tmp_path, 'child.py', "_base_ = ['./base.py']\n")
    with pytest.raises(ConfigFileError, match=rf"^{base}, line 2: NameError: name 'undefined_name' is not defined"):
        read_config(child)


def test_good_config_and_missing_file(tmp_path):
    _write(tmp_path, 'base.py', 'a = 1\nmodel = dict(type="X", depth=3)\n')
    child = _write(tmp_path, 'child.py', "_base_ = ['./base.py']\nmodel = dict(depth=5)\n")
    cfg = read_config(child)
    assert cfg.a == 1 and cfg.model.depth == 5 and cfg.model.type == 'X'
    with pytest.raises(FileNotFoundError, match='no such config file'):
        read_config(tmp_path / 'absent.py')


def test_error_outside_the_config_files_is_named_on_request(tmp_path, monkeypatch):
    """An error mmengine raises in its own code (not located in the config's files) is re-raised as it is, or,
    with name_any_error, said in one line naming the config."""
    from mmengine.config import Config
    config = _write(tmp_path, 'plain.py', 'a = 1\n')

    def broken_loader(*args, **kwargs):
        raise KeyError('lazy_import')

    monkeypatch.setattr(Config, 'fromfile', broken_loader)
    with pytest.raises(KeyError):
        read_config(config)
    with pytest.raises(ConfigFileError, match=rf"^{config}: cannot be loaded as a config: KeyError: 'lazy_import'$"):
        read_config(config, name_any_error=True)


def test_load_config_and_face_detector_name_the_file(tmp_path):
    from mmdet_face.apis import FaceDetector, load_config
    base = _write(tmp_path, 'base.py', 'model = dict(\n')
    child = _write(tmp_path, 'child.py', "_base_ = './base.py'\n")
    with pytest.raises(ValueError, match=rf'^{base}, line 1: SyntaxError'):
        load_config(child)
    with pytest.raises(ValueError, match=rf'^{base}, line 1: SyntaxError'):
        FaceDetector(child)


@pytest.mark.parametrize('relpath, entry, argv', [
    ('tools/train.py', lambda m, a: m.build_config(m.parse_args(a)), []),
    ('tools/test.py', lambda m, a: m.build_test_cfg(m.parse_args(a)), ['k.pth']),
    ('tools/deployment/export_onnx.py', lambda m, a: m.main(a), ['{tmp}/o.onnx']),
    ('tools/analysis/get_flops.py', lambda m, a: m.main(a), []),
    ('tools/checks/check_train_steps.py', lambda m, a: m.run(m.parse_args(a)), []),
    ('tools/analysis/benchmark_train.py', lambda m, a: m.build_cfg(m.parse_args(a), 'unused'), []),
])
def test_tools_end_with_the_message(tmp_path, relpath, entry, argv):
    base = _write(tmp_path, 'base.py', 'a = 1\nb = (\n')
    child = _write(tmp_path, 'child.py', "_base_ = ['./base.py']\n")
    argv = [child] + [a.format(tmp=tmp_path) for a in argv]
    module = load_tool(relpath)
    with pytest.raises(SystemExit) as info:
        entry(module, argv)
    assert str(info.value).startswith(f'error: {base}, line 2: SyntaxError: ')


@pytest.mark.slow
def test_train_tool_prints_no_traceback(tmp_path):
    base = _write(tmp_path, 'base.py', 'a = 1\nb = (\n')
    child = _write(tmp_path, 'child.py', "_base_ = ['./base.py']\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    run = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), child, '--work-dir', str(tmp_path / 'w')],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 1
    assert run.stderr.startswith(f'error: {base}, line 2: SyntaxError: '), run.stderr
    assert 'Traceback' not in run.stderr and not (tmp_path / 'w').exists()
