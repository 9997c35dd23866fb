"""``mmdet_face.all_modules`` registers every module (configs name it in ``custom_imports``); the deprecated name
``mmdet_face.register``, which dumped configs and checkpoints' embedded configs carry, still does the same."""
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('module', ['mmdet_face.all_modules', 'mmdet_face.register'])
def test_a_config_naming_the_module_builds_our_classes(tmp_path, module):
    config = tmp_path / 'cfg.py'
    config.write_text(f"custom_imports = dict(imports=[{module!r}], allow_failed_imports=False)\n"
                      "default_scope = 'mmdet_face'\n")
    code = ('import sys\n'
            'from mmengine.config import Config\n'
            'from mmengine.utils import import_modules_from_strings\n'
            f'cfg = Config.fromfile({str(config)!r})\n'
            'import_modules_from_strings(**cfg.custom_imports)\n'
            'from mmdet_face.registry import HOOKS, MODELS, TRANSFORMS\n'
            "print(sorted(n for n, r in [('SCRFD', MODELS), ('AverageBuffersHook', HOOKS), ('FaceResize', TRANSFORMS)]"
            ' if n in r.module_dict))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300, cwd=str(REPO))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split('\n')[-2] == "['AverageBuffersHook', 'FaceResize', 'SCRFD']"


def test_runtime_base_names_the_new_module():
    cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'default_runtime.py'))
    assert cfg.custom_imports['imports'] == ['mmdet_face.all_modules']


def test_no_package_module_is_named_like_a_test():
    """pytest collects test_*.py / *_test.py; a product module named so reads as a test and may be collected."""
    package = REPO / 'mmdet_face'
    named = sorted(str(p.relative_to(package)) for p in package.rglob('*.py')
                   if p.name.startswith('test_') or p.stem.endswith('_test'))
    assert named == []


def test_no_module_imports_a_private_name_of_another():
    """A name another module needs is public in the module that owns it (no ``from .x import _y``)."""
    import ast
    crossing = []
    for root in ('mmdet_face', 'tools', 'search_tools'):
        for path in sorted((REPO / root).rglob('*.py')):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and (node.level or (node.module or '').startswith(
                        ('mmdet_face', 'search_tools'))):
                    crossing += [f'{path.relative_to(REPO)}:{node.lineno} {alias.name}' for alias in node.names
                                 if alias.name.startswith('_') and not alias.name.startswith('__')]
    assert crossing == []


def test_no_package_module_holds_a_command_line_main():
    """Command-line mains live in tools/; the package holds the logic they call (engine/cli.py: the shared
    argument pieces)."""
    import ast
    package = REPO / 'mmdet_face'
    mains = sorted(str(p.relative_to(package)) for p in package.rglob('*.py')
                   if any(isinstance(node, ast.FunctionDef) and node.name == 'main'
                          for node in ast.parse(p.read_text()).body))
    assert mains == []
