"""Framework-free evaluation functions. Keep this file free of torch / mmengine imports: ``tools/test_widerface.py
--pred-dir`` loads it without the rest of the package."""
from .widerface import *  # noqa: F401,F403
