"""Shared parametrization for the Semaphore tests."""

import aiosync
import pytest

BOTH = pytest.mark.parametrize("cls", [aiosync.Semaphore, aiosync.BoundedSemaphore])
