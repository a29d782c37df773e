"""The supervisor restarts a crashed child with backoff and stops every child at the end."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from newswatch.run.live import Snapshot, counter_total, rate, render, status_line
from newswatch.run.supervisor import ChildSpec, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHER = [sys.executable, "-c", "import sys; sys.exit(3)"]


def test_crashed_child_is_restarted_and_reported(tmp_path: Path) -> None:
    events: list[str] = []
    now = [0.0]
    supervisor = Supervisor([ChildSpec("crasher", CRASHER, {})], tmp_path, events.append, clock=lambda: now[0])
    supervisor.start_all()
    child = supervisor.children["crasher"]
    assert child.proc is not None
    child.proc.wait(timeout=10)
    supervisor.check()
    assert "crasher stopped (exit code 3); restarting in 1s" in events[0]
    now[0] = 1.5
    supervisor.check()
    assert child.restarts == 1 and "restarted (restart #1)" in events[1]
    child.proc.wait(timeout=10)
    supervisor.check()
    assert "restarting in 2s" in events[2]  # the delay grows


def test_stop_all_terminates_children(tmp_path: Path) -> None:
    supervisor = Supervisor([ChildSpec("a", SLEEPER, {}), ChildSpec("b", SLEEPER, {})], tmp_path)
    supervisor.start_all()
    started = time.monotonic()
    supervisor.stop_all(timeout=10)
    assert time.monotonic() - started < 10
    assert not any(child.running for child in supervisor.children.values())


def test_rates_and_render() -> None:
    before = Snapshot(at=0.0, collected=10, tagged=5, indexed=0)
    after = Snapshot(at=2.0, collected=30, tagged=25, indexed=20, tag_counts={"troop-buildup": 3})
    assert rate(before.collected, after.collected, 2.0) == 10.0
    assert rate(None, 5, 2.0) is None
    group = render(before, after, [("collector", "running")], ["started"])
    assert len(group.renderables) == 5


def test_polls_from_metrics() -> None:
    text = (
        "# HELP newswatch_collector_polls_total Feed polls\n"
        "# TYPE newswatch_collector_polls_total counter\n"
        'newswatch_collector_polls_total{outcome="ok"} 7.0\n'
        'newswatch_collector_polls_total{outcome="not_modified"} 5.0\n'
    )
    assert counter_total(text, "polls") == 12.0
    assert counter_total("", "polls") is None


def test_status_line_for_logs() -> None:
    line = status_line(Snapshot(at=0.0, indexed=0), Snapshot(at=2.0, indexed=10, tag_counts={"troop-buildup": 2}))
    assert "indexed 10 (5.0/s)" in line and "troop-buildup 2" in line
