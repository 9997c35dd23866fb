"""The layout of ``tests/`` a contributor relies on: test files import shared code from ``tests/helpers/``, never
from ``conftest.py`` (which pytest imports under a name of its own choosing, so an import of it can load a second
copy), and ``conftest.py`` defines each pytest hook once."""
import ast
import re
import subprocess
import sys

from tests.helpers.paths import REPO_ROOT

TESTS = REPO_ROOT / 'tests'
IMPORTS_CONFTEST = re.compile(r'^\s*(from\s+(tests\.)?conftest\s+import|import\s+(tests\.)?conftest\b)', re.M)


def _conftest_importers(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob('*.py')
                  if path.name != 'conftest.py' and IMPORTS_CONFTEST.search(path.read_text(encoding='utf-8')))


def test_no_test_file_imports_conftest():
    assert _conftest_importers(TESTS) == []


def test_the_check_finds_an_import_of_conftest(tmp_path):
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'test_a.py').write_text('import os\nfrom tests.conftest import REPO_ROOT\n')
    (tmp_path / 'test_b.py').write_text('import conftest\n')
    (tmp_path / 'test_c.py').write_text('# as conftest.shared_path\nfrom tests.helpers.paths import shared_path\n')
    assert _conftest_importers(tmp_path) == ['sub/test_a.py', 'test_b.py']


def test_conftest_defines_each_function_once():
    tree = ast.parse((TESTS / 'conftest.py').read_text(encoding='utf-8'))
    names = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def test_pytest_markers_lists_the_registered_markers():
    out = subprocess.run([sys.executable, '-m', 'pytest', '--markers', '-p', 'no:cacheprovider'], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120).stdout
    assert '@pytest.mark.slow: takes more than' in out
    assert '@pytest.mark.dist: starts real distributed processes' in out


def test_fixtures_are_defined_once_for_the_whole_suite():
    """A fixture defined again in a test module or a sub-conftest shadows the shared one (and, for toy_data, builds
    the same toy set once more per module)."""
    shared = {node.name for node in ast.parse((TESTS / 'conftest.py').read_text(encoding='utf-8')).body
              if isinstance(node, ast.FunctionDef) and any('fixture' in ast.unparse(d) for d in node.decorator_list)}
    again = sorted(f'{path.relative_to(TESTS)}::{node.name}'
                   for path in TESTS.rglob('*.py') if path != TESTS / 'conftest.py'
                   for node in ast.walk(ast.parse(path.read_text(encoding='utf-8')))
                   if isinstance(node, ast.FunctionDef) and node.name in shared)
    assert 'toy_data' in shared and again == []
