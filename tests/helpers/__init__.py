"""Helpers shared by tests (imported as ``tests.helpers.<module>``; never conftest)."""
