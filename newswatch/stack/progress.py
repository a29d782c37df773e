"""What `stack up` shows while it waits for the services to become healthy (up to a few minutes).

``LocalStack.up`` reports, about twice a second, the services it still awaits and the seconds since
each was launched; an empty report means the wait is over. A terminal gets one live status line;
logs and pipes get a plain line every few seconds instead of nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from rich.console import Console
from rich.status import Status

# Seconds since launch of each service still awaited; {} once the wait is over (done or failed).
WaitReport = Callable[[Mapping[str, float]], None]


def waiting_text(elapsed: Mapping[str, float], timeout: float) -> str:
    services = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in elapsed.items())
    return f"waiting for health: {services} (timeout {timeout:.0f}s)"


class PeriodicLines:
    """A plain line every ``every`` seconds of waiting, through ``say`` (for logs and pipes)."""

    def __init__(
        self,
        say: Callable[[str], None],
        timeout: float,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.say, self.timeout, self.every, self.clock = say, timeout, every, clock
        self.next_line_at: float | None = None

    def __call__(self, elapsed: Mapping[str, float]) -> None:
        if not elapsed:
            self.next_line_at = None
            return
        now = self.clock()
        if self.next_line_at is None:
            # The "starting" lines were just printed; the first reminder comes after `every` seconds.
            self.next_line_at = now + self.every
        elif now >= self.next_line_at:
            self.say(waiting_text(elapsed, self.timeout))
            self.next_line_at = now + self.every


class LiveStatus:
    """One status line with a spinner, redrawn in place on a terminal; gone once the wait is over."""

    def __init__(self, console: Console, timeout: float) -> None:
        self.console, self.timeout = console, timeout
        self.status: Status | None = None

    def __call__(self, elapsed: Mapping[str, float]) -> None:
        if not elapsed:
            if self.status is not None:
                self.status.stop()
                self.status = None
            return
        text = waiting_text(elapsed, self.timeout)
        if self.status is None:
            self.status = Status(text, console=self.console)
            self.status.start()
        else:
            self.status.update(text)


def wait_display(console: Console, say: Callable[[str], None], timeout: float) -> WaitReport:
    """A live status line on a terminal, otherwise periodic plain lines."""
    return LiveStatus(console, timeout) if console.is_terminal else PeriodicLines(say, timeout)
