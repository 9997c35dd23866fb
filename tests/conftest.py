"""Fixtures and hooks only (pytest finds fixtures here); what tests import lives in ``tests/helpers/``."""
import pytest

from tests.helpers.paths import SHARED_ABSENT, shared_path
from tests.helpers.toy_data import make_small_toy_set


@pytest.fixture
def widerface_gt_dir():
    return shared_path('widerface_gt')


@pytest.fixture(scope='session')
def toy_data(tmp_path_factory):
    """The small toy WIDER FACE set (tests/helpers/toy_data.py), made once per session and shared: tests read it
    (train on it, point configs at it); a test that changes it works on its own copy (shutil.copytree)."""
    return make_small_toy_set(tmp_path_factory.mktemp('toy_widerface'))


@pytest.fixture
def on_the_reference_thread_count():
    """Run the test on the release reference child's thread count, where our side and the reference sum in the
    same order and agree bit for bit (``reference_threads`` in tools/analysis/release_reference.py)."""
    from tests.helpers.release import reference_threads
    with reference_threads():
        yield


def pytest_terminal_summary(terminalreporter):
    """Say at the end which tests did not run because ../shared (real photos, released weights, the official
    ground truth) is absent: a green run without them has not checked parity with the releases."""
    missing = [report for report in terminalreporter.stats.get('skipped', [])
               if SHARED_ABSENT in str(report.longrepr)]
    if not missing:
        return
    terminalreporter.section('tests that need ../shared and did not run')
    for report in missing:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        terminalreporter.write_line(f'{report.nodeid}: {reason.replace("Skipped: ", "")}')
    terminalreporter.write_line(f'{len(missing)} parity/reference test(s) skipped; set MMDET_FACE_SHARED to the '
                                'shared folder to run them.')


# the markers tests/ uses, registered here only (pytest.ini has --strict-markers: an unknown marker is an error)
MARKERS = {
    'slow': 'takes more than ~2 s on a 2-core CPU (trainings, tools run as subprocesses, distributed runs, parity '
            'with the releases); left out of make test-fast (pytest -m "not slow"), run by make test and CI',
    'dist': 'starts real distributed processes (torchrun / stand-in srun, 2 ranks, gloo on CPU); part of the default '
            'suite, select or skip with -m dist / -m "not dist"',
}


def pytest_configure(config):
    for name, description in MARKERS.items():
        config.addinivalue_line('markers', f'{name}: {description}')
