"""Shared helper for the Condition tests: counting waiters."""

import re


def n_waiters(cond) -> int:
    """The waiter count the repr shows (asyncio's `, waiters:N`, absent when none)."""
    m = re.search(r"\[(?:un)?locked(?:, waiters:(\d+))?\]>$", repr(cond))
    assert m, repr(cond)
    return int(m.group(1) or 0)
