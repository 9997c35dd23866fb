"""Every command-line entry point of tools/ and search_tools/ is run by some test on real input.

An entry point is a ``.sh`` file of ``tools/`` (any depth) or ``search_tools/``, or a ``.py`` file there with an
``if __name__ == '__main__':`` block. A test runs it when a test module names the tool by its path from the
repository root: the string ``'tools/analysis/get_flops.py'`` (as :func:`tests.helpers.tools.load_tool` /
``run_tool`` take it, or in a command line), or the same path as quoted parts (``REPO / 'tools' / 'train.py'``),
where the reference and the two lines after it do not pass ``--help`` (a help text is no run).
Modules that only feed tools bad arguments do not count (:data:`ARGUMENT_CHECKS_ONLY`), and neither do the helpers
under ``tests/helpers/``. A launcher that other entry points run (:data:`RUN_THROUGH`) counts as run when they are
(tests run it directly only with bad settings). :data:`NOT_RUN_BY_TESTS` lists the entry points no test can run,
each with the reason.
"""
import re
from pathlib import Path

from tests.helpers.paths import REPO_ROOT as REPO


# These modules call many tools, but only with bad options or a broken config (each checks one error message).
ARGUMENT_CHECKS_ONLY = {'tests/tools/test_numeric_options.py', 'tests/utils/test_config_file.py'}

# launcher: the entry points that run it (each execs "$TOOLS/<launcher>")
RUN_THROUGH = {
    'tools/dist_run.sh': ('tools/dist_train.sh', 'tools/dist_test.sh'),
    'tools/slurm_run.sh': ('tools/slurm_train.sh', 'tools/slurm_test.sh'),
}

NOT_RUN_BY_TESTS = {
    'tools/setup_env.sh': 'creates .venv and installs the pinned stack with pip (network); `make setup` / `make test` '
                          'run it before the tests',
}


def entry_points():
    found = set()
    for pattern in ('tools/**/*.sh', 'search_tools/*.sh'):
        found.update(path for path in REPO.glob(pattern))
    for pattern in ('tools/**/*.py', 'search_tools/*.py'):
        found.update(path for path in REPO.glob(pattern)
                     if re.search(r"""^if __name__ == ['"]__main__['"]:""", path.read_text(), re.M))
    return sorted(path.relative_to(REPO).as_posix() for path in found)


def _references(relpath):
    parts = relpath.split('/')
    as_parts = r"""['"]\s*[,/]\s*['"]""".join(map(re.escape, parts))
    return re.compile(rf"""['"/]{re.escape(relpath)}(?![\w.])|['"]{as_parts}['"]""")


def _runs(rule, text):
    """Whether ``text`` names the tool (``rule``) at least once other than to print its help."""
    for match in rule.finditer(text):
        start = text.rfind('\n', 0, match.start()) + 1
        end = match.end()
        for _ in range(3):
            end = text.find('\n', end + 1)
            if end < 0:
                end = len(text)
                break
        if '--help' not in text[start:end]:
            return True
    return False


def _test_modules():
    return {path.relative_to(REPO).as_posix(): path.read_text() for path in (REPO / 'tests').rglob('*.py')
            if not path.relative_to(REPO).as_posix().startswith('tests/helpers/')
            and path.relative_to(REPO).as_posix() not in ARGUMENT_CHECKS_ONLY | {'tests/test_entry_points.py'}}


def test_the_search_finds_the_entry_points():
    points = entry_points()
    for expected in ('tools/train.py', 'tools/test.py', 'tools/dist_train.sh', 'tools/checks/gpu_check.sh',
                     'tools/analysis/benchmark_widerface_eval.py', 'search_tools/search.py',
                     'search_tools/dist_search.sh'):
        assert expected in points
    assert 'search_tools/space.py' not in points  # a module without a main


def test_the_reference_rule():
    rule = _references('tools/analysis/get_flops.py')
    assert rule.search("load_tool('tools/analysis/get_flops.py')")
    assert rule.search("[sys.executable, str(REPO / 'tools' / 'analysis' / 'get_flops.py'), cfg]")
    assert rule.search("os.path.join(ROOT, 'tools', 'analysis', 'get_flops.py')")
    assert not rule.search("'tools/analysis/get_flops.pyc'") and not rule.search("'get_flops.py'")
    assert not _references('tools/test.py').search("'tools/test.py.bak'")
    assert _runs(rule, "run_tool('tools/analysis/get_flops.py', CONFIG)\n")
    assert not _runs(rule, "run_tool('tools/analysis/get_flops.py',\n         '--help')\n")


def test_every_entry_point_is_run_by_a_test():
    modules = _test_modules()
    not_run = []
    for relpath in entry_points():
        if relpath in NOT_RUN_BY_TESTS:
            continue
        runners = RUN_THROUGH.get(relpath, (relpath,))
        if not any(_runs(_references(runner), text) for runner in runners for text in modules.values()):
            not_run.append(relpath)
    assert not not_run, f'entry points no test runs on real input: {not_run}'


def test_exemptions_are_current():
    points = entry_points()
    stale = [relpath for relpath in (*NOT_RUN_BY_TESTS, *RUN_THROUGH) if relpath not in points]
    assert not stale, f'NOT_RUN_BY_TESTS / RUN_THROUGH list what is no entry point (any more): {stale}'
    for launcher, runners in RUN_THROUGH.items():
        for runner in runners:
            assert f'"$TOOLS/{Path(launcher).name}"' in (REPO / runner).read_text(), (runner, launcher)


def test_every_tool_the_readmes_name_exists_and_is_an_entry_point():
    points = set(entry_points())
    for readme in (REPO / 'README.md', REPO / 'search_tools' / 'README.md'):
        named = set(re.findall(r'(?<![\w/.])((?:search_)?tools/[\w/.-]+\.(?:py|sh))', readme.read_text()))
        assert named, readme
        assert not named - points, f'{readme.name} names what is no entry point: {sorted(named - points)}'
