from .rfe import RFE  # noqa: F401
