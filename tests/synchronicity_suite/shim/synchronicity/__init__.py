"""Test scaffolding: the name `synchronicity`, for its own test suite, over aiosync."""

from aiosync import Synchronizer, classproperty

__all__ = ["Synchronizer", "classproperty"]
