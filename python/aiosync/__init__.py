"""Synchronization primitives shared by threads and any number of asyncio event loops."""

from ._aiosync import BoundedSemaphore, Lock, RLock, Semaphore

__all__ = ["BoundedSemaphore", "Lock", "RLock", "Semaphore"]
