"""Polling helpers for integration tests that wait on real processes and servers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def poll_until(condition: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    """Call ``condition`` until it returns something truthy or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Like ``poll_until``, but a timeout fails the test, saying what it waited for."""
    value = poll_until(condition, timeout, every)
    if not value:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
    return value
