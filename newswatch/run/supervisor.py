"""Supervise the pipeline's services as child processes: start, restart on crash, stop cleanly.

A crashed child is restarted with a growing delay (1 s, 2 s, 4 s ... capped), so a service that
cannot start does not spin; every crash and restart is reported through ``on_event``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAX_RESTART_DELAY = 30.0


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]


@dataclass
class Child:
    spec: ChildSpec
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    restart_at: float | None = None
    exit_codes: list[int] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running and self.proc else None


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ChildSpec],
        log_dir: Path,
        on_event: Callable[[str], None] = lambda message: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.children = {spec.name: Child(spec, log_dir / f"{spec.name}.log") for spec in specs}
        self.on_event = on_event
        self.clock = clock

    def start_all(self) -> None:
        for child in self.children.values():
            self._start(child)

    def _start(self, child: Child) -> None:
        with child.log_path.open("ab") as log:
            child.proc = subprocess.Popen(
                list(child.spec.argv),
                env=dict(child.spec.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
            )
        child.restart_at = None

    def check(self) -> None:
        """Restart children that died (call this every second or so)."""
        now = self.clock()
        for child in self.children.values():
            if child.proc is None:
                continue
            code = child.proc.poll()
            if code is None:
                continue
            if child.restart_at is None:
                child.exit_codes.append(code)
                delay = min(MAX_RESTART_DELAY, 2.0 ** min(child.restarts, 5))
                child.restart_at = now + delay
                how = f"signal {-code}" if code < 0 else f"exit code {code}"
                self.on_event(f"{child.spec.name} stopped ({how}); restarting in {delay:.0f}s (log: {child.log_path})")
            elif now >= child.restart_at:
                child.restarts += 1
                self._start(child)
                self.on_event(f"{child.spec.name} restarted (restart #{child.restarts})")

    def stop_all(self, timeout: float = 20.0) -> None:
        """SIGTERM every child, wait up to ``timeout`` for all, then SIGKILL the rest."""
        running = [child for child in self.children.values() if child.running]
        for child in running:
            assert child.proc is not None
            child.proc.send_signal(signal.SIGTERM)
        deadline = self.clock() + timeout
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(timeout=max(0.1, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(timeout=10)
                self.on_event(f"{child.spec.name} did not stop within {timeout:.0f}s; killed")
