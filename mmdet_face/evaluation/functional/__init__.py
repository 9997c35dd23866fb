"""Framework-free evaluation functions. Keep this package free of torch / mmengine imports: ``tools/test_widerface.py
--pred-dir`` scores a submission with it alone."""
from .widerface import *  # noqa: F401,F403
from .widerface import __all__

__all__ = list(__all__)
