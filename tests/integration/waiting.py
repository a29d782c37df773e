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


def wait_until(condition: Callable[[], Any], timeout: float, what: str | Callable[[], str], every: float = 0.2) -> Any:
    """Like ``poll_until``, but a timeout fails the test, saying what it waited for.

    ``what`` may be a function (e.g. one that returns a process's log tail): it is called only on a
    timeout, so the message shows the state at the end of the wait, not at its start. The message also
    says how often the condition was checked and its slowest check, which tells a condition that hung
    (a reader stuck on the broker) from one that was checked often and stayed false.
    """
    calls, slowest = 0, 0.0

    def timed() -> Any:
        nonlocal calls, slowest
        started = time.monotonic()
        try:
            return condition()
        finally:
            calls += 1
            slowest = max(slowest, time.monotonic() - started)

    value = poll_until(timed, timeout, every)
    if not value:
        described = what() if callable(what) else what
        raise AssertionError(
            f"timed out after {timeout:g} s waiting for {described}\n"
            f"(condition checked {calls} times, the slowest check took {slowest:.1f} s)"
        )
    return value
