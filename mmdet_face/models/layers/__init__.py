from .rfe import RFE

__all__ = ['RFE']
