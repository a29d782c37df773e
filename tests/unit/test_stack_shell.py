"""The local stack's shell without Kafka or Elasticsearch: helper commands that fail become clear
errors, `up`/`down` stop exactly the processes a start launched (stand-in processes play the
services), and what `up` shows while it waits."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from rich.console import Console
from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.settings import Settings
from newswatch.stack.elasticsearch import ensure_service_user
from newswatch.stack.errors import StackError
from newswatch.stack.jdk import Jdk
from newswatch.stack.kafka import KafkaLayout, format_storage, write_config
from newswatch.stack.local import LocalStack
from newswatch.stack.process import PidFile, free_port, spawn
from newswatch.stack.progress import LiveStatus, PeriodicLines, wait_display

# A JVM's own warning prefix, which rich would take for markup if the CLI printed it unescaped.
FAILING_JAVA = """#!/bin/sh
echo "[0.004s][warning][os,thread] Failed to start thread"
echo "Error: Could not find or load main class kafka.tools.StorageTool" >&2
exit 1
"""


def fake_jdk(root: Path, java_script: str) -> Jdk:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "java").write_text(java_script)
    (root / "bin" / "java").chmod(0o755)
    (root / "release").write_text('JAVA_VERSION="21.0.5"\n')
    return Jdk(home=root, version="21.0.5", origin="test")


def fake_command(directory: Path, name: str, script: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(script)
    (directory / name).chmod(0o755)


# ------------------------------------------------------------------ failures become StackErrors


def test_a_failed_storage_format_names_the_output_the_log_and_the_fix(tmp_path: Path) -> None:
    layout = KafkaLayout(tmp_path / "kafka")
    write_config(layout, 19092, 19093)
    jdk = fake_jdk(tmp_path / "jdk", FAILING_JAVA)
    with pytest.raises(StackError) as caught:
        format_storage(jdk, tmp_path / "cache" / "kafka-4.4.0" / "lib", layout)
    message = str(caught.value)
    assert message.startswith(f"Kafka could not format its storage in {layout.data}")
    assert "exited with code 1" in message
    assert "Could not find or load main class kafka.tools.StorageTool" in message
    assert str(layout.format_log) in message
    assert (
        "Fix:" in message and "newswatch stack reset" in message and str(tmp_path / "cache" / "kafka-4.4.0") in message
    )
    assert "Could not find or load main class" in layout.format_log.read_text()
    assert not layout.cluster_id_file.exists()  # a failed format keeps no cluster id


def test_a_java_that_cannot_run_is_a_storage_format_error(tmp_path: Path) -> None:
    layout = KafkaLayout(tmp_path / "kafka")
    write_config(layout, 19092, 19093)
    jdk = fake_jdk(tmp_path / "jdk", FAILING_JAVA)
    jdk.java.chmod(0o644)
    with pytest.raises(StackError, match=r"could not be run \(Permission denied\)"):
        format_storage(jdk, tmp_path / "lib", layout)


def test_a_failed_useradd_names_the_command_its_output_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_command(
        tmp_path / "bin",
        "useradd",
        '#!/bin/sh\necho "useradd: cannot lock /etc/passwd; try again later." >&2\nexit 1\n',
    )
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(StackError) as caught:
        ensure_service_user("newswatch-test-no-such-user")
    message = str(caught.value)
    assert "Elasticsearch refuses to run as root" in message and "'newswatch-test-no-such-user'" in message
    assert "`useradd --system --no-create-home --shell /usr/sbin/nologin newswatch-test-no-such-user`" in message
    assert "exited with code 1" in message and "cannot lock /etc/passwd" in message
    assert "NEWSWATCH_ELASTICSEARCH_USER" in message


def test_a_missing_useradd_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(StackError, match=r"could not be run \(No such file or directory\)"):
        ensure_service_user("newswatch-test-no-such-user")


def kafka_cache(cache_dir: Path) -> None:
    """A complete cached Kafka download (empty jars: nothing here runs Java for real)."""
    home = cache_dir / "kafka-4.4.0"
    (home / "lib").mkdir(parents=True)
    for jar in ("kafka_2.13-4.4.0.jar", "slf4j-api-1.7.36.jar", "log4j-core-2.24.3.jar", "log4j-slf4j-impl-2.24.3.jar"):
        (home / "lib" / jar).write_bytes(b"")
    (home / ".complete").write_text("4.4.0")


def test_stack_up_prints_a_format_failure_as_an_error_not_a_traceback(tmp_path: Path) -> None:
    kafka_cache(tmp_path / "cache")
    fake_jdk(tmp_path / "jdk", FAILING_JAVA)
    env = {
        "NEWSWATCH_STATE_DIR": str(tmp_path / "state"),
        "NEWSWATCH_CACHE_DIR": str(tmp_path / "cache"),
        "NEWSWATCH_JAVA_HOME": str(tmp_path / "jdk"),
        "NEWSWATCH_KAFKA_PORT": str(free_port()),
        "NEWSWATCH_KAFKA_CONTROLLER_PORT": str(free_port()),
        "NEWSWATCH_ELASTICSEARCH_URL": "http://127.0.0.1:1",  # existing: nothing local for Elasticsearch
    }
    result = CliRunner().invoke(app, ["stack", "up"], env=env)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    assert "error: Kafka could not format its storage" in result.stderr
    assert "[0.004s][warning][os,thread] Failed to start thread" in result.stderr  # escaped, not eaten as markup
    # Whole, on one line: error messages are not hard-wrapped at the console width, so a path can be copied.
    assert str(tmp_path / "state" / "kafka" / "logs" / "storage-format.log") in result.stderr
    assert "Fix:" in result.stderr


# ------------------------------------------------------------------ stopping exactly what a start launched

# Like Elasticsearch's launcher with -d: it starts the node, records nothing we can see, and (here) exits.
DAEMONIZING_LAUNCHER = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", sys.argv[1] + "/home/node"])
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def local_settings(tmp_path: Path) -> Settings:
    return Settings.load({"NEWSWATCH_STATE_DIR": str(tmp_path / "state"), "NEWSWATCH_STACK_STOP_TIMEOUT": "5"})


def launch_like_elasticsearch(stack: LocalStack, launcher_lives: float) -> subprocess.Popen[bytes]:
    """A stand-in launch: recorded the moment it starts, as ``_start_elasticsearch`` does."""
    argv = [sys.executable, "-c", DAEMONIZING_LAUNCHER, str(stack.es.root), str(launcher_lives)]
    launcher = spawn(argv, log_path=stack.es.launcher_log, env=os.environ)
    PidFile(stack.es.launcher_pid).write(launcher.pid)
    return launcher


def node_of(stack: LocalStack, timeout: float = 10.0) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["cmdline"]):
            if f"{stack.es.root}/home/node" in (proc.info["cmdline"] or []):
                return proc
        time.sleep(0.05)
    raise AssertionError("the stand-in node did not start")


def alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (an orphan's zombie lingers where nothing reaps it, e.g. in a container)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stand_ins_alive(directory: Path) -> list[psutil.Process]:
    return [
        proc
        for proc in psutil.process_iter(["cmdline"])
        if any(str(directory) in argument for argument in proc.info["cmdline"] or []) and alive(proc)
    ]


@pytest.fixture
def leftovers(tmp_path: Path) -> Iterator[None]:
    """Whatever a failing test leaves behind is killed (only processes naming this test's directory)."""
    yield
    for proc in stand_ins_alive(tmp_path):
        proc.kill()


def test_down_stops_a_node_whose_up_never_tracked_it(local_settings: Settings, leftovers: None) -> None:
    """`up` was killed after launching Elasticsearch but before the node's pid existed."""
    stack = LocalStack(local_settings)
    launcher = launch_like_elasticsearch(stack, launcher_lives=0)
    node = node_of(stack)
    launcher.wait(timeout=10)  # the launcher is gone, the node lives on in its session
    assert not PidFile(stack.es.tracked_pid).path.exists()
    outcome = stack.down()
    assert outcome["elasticsearch"].startswith("stopped an unfinished start")
    assert not alive(node)
    assert stack.down()["elasticsearch"] == "not running"


class StandInStack(LocalStack):
    """`up` with stand-in services: Kafka exits at once; Elasticsearch's launch never finishes."""

    def __init__(self, settings: Settings, kafka_code: int | None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.kafka_code = kafka_code

    def _check_ports(self, to_start: list[str]) -> None:
        pass

    def _start_kafka(self, launched: list[str]) -> Any:
        code = "import time; time.sleep(120)" if self.kafka_code is None else f"raise SystemExit({self.kafka_code})"
        launched.append("kafka")
        proc = spawn([sys.executable, "-c", code, str(self.kafka.root)], log_path=self.kafka.log, env=os.environ)
        PidFile(self.kafka.pid).write(proc.pid)
        return proc

    def _start_elasticsearch(self, launched: list[str]) -> subprocess.Popen[bytes]:
        launched.append("elasticsearch")
        return launch_like_elasticsearch(self, launcher_lives=120)


def test_a_failed_up_stops_the_elasticsearch_it_launched(local_settings: Settings, leftovers: None) -> None:
    stack = StandInStack(local_settings, kafka_code=3)
    with pytest.raises(StackError, match=r"Kafka exited during start-up \(code 3\)"):
        stack.up()
    assert stand_ins_alive(local_settings.state_dir) == []  # the launcher and its node are stopped
    assert not PidFile(stack.es.launcher_pid).path.exists()


def test_an_interrupted_up_stops_both_services_it_launched(local_settings: Settings, leftovers: None) -> None:
    def ctrl_c(elapsed: object) -> None:
        if elapsed:
            raise KeyboardInterrupt

    stack = StandInStack(local_settings, kafka_code=None, waiting=ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        stack.up()
    assert PidFile(stack.kafka.pid).process() is None
    assert stand_ins_alive(local_settings.state_dir) == []


# ------------------------------------------------------------------ the display while `up` waits


def test_a_terminal_gets_a_live_line_and_a_pipe_gets_periodic_lines() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True, width=120)
    live = wait_display(terminal, terminal.print, 180)
    assert isinstance(live, LiveStatus)
    live({"kafka": 3.0, "elasticsearch": 1.0})
    live({"kafka": 4.0})
    live({})  # the wait is over: the line goes away
    assert live.status is None
    assert "waiting for health: kafka 4s (timeout 180s)" in terminal.file.getvalue()  # drawn as it stops
    assert isinstance(wait_display(Console(file=io.StringIO()), print, 180), PeriodicLines)
