"""Test scaffolding: the suite's support scripts use this backport of asyncio.Runner."""

from asyncio import Runner

__all__ = ["Runner"]
