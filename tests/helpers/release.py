"""The release parity harness (``tools/analysis/release_reference.py``) for tests, plus :func:`require_reference`."""
import pytest

from tests.helpers.tools import load_tool

_harness = load_tool('tools/analysis/release_reference.py')
ReferenceRunError = _harness.ReferenceRunError
reference_available = _harness.reference_available
reference_threads = _harness.reference_threads
run_reference = _harness.run_reference


def require_reference() -> None:
    """In a test: skip it (with the printed reason) unless the reference can be used here."""
    ok, reason = reference_available()
    if not ok:
        pytest.skip(reason)
