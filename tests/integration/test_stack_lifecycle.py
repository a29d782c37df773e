"""`newswatch stack` as an operator uses it, on a second stack with its own ports and state directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from newswatch.settings import Settings
from newswatch.stack.local import LocalStack
from newswatch.stack.process import free_port

NEWSWATCH = [sys.executable, "-m", "newswatch.cli"]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NEWSWATCH, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Traversable by the unprivileged Elasticsearch user when the tests run as root.
    path = Path(tempfile.mkdtemp(prefix="newswatch-stack-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def second_stack_env(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(
        NEWSWATCH_STATE_DIR=str(state_dir),
        NEWSWATCH_KAFKA_PORT=str(free_port()),
        NEWSWATCH_KAFKA_CONTROLLER_PORT=str(free_port()),
        NEWSWATCH_ELASTICSEARCH_PORT=str(free_port()),
        NEWSWATCH_ELASTICSEARCH_TRANSPORT_PORT=str(free_port()),
        NEWSWATCH_ELASTICSEARCH_HEAP="512m",
        NEWSWATCH_KAFKA_HEAP="384m",
    )
    return env


def status_json(env: dict[str, str]) -> tuple[int, dict[str, dict]]:
    done = run_cli(["stack", "status", "--json"], env)
    return done.returncode, {entry["service"]: entry for entry in json.loads(done.stdout)}


def test_up_twice_down_and_data_survives(stack: LocalStack, state_dir: Path) -> None:
    env = second_stack_env(state_dir)
    first = run_cli(["stack", "up"], env)
    assert first.returncode == 0, first.stderr
    code, status = status_json(env)
    assert code == 0
    assert status["kafka"]["facts"]["cluster_id"]
    assert status["elasticsearch"]["facts"]["x-elastic-product"] == "Elasticsearch"
    assert status["elasticsearch"]["facts"]["version"] == Settings.load(env).elasticsearch_version
    pids = {name: entry["pid"] for name, entry in status.items()}

    again = run_cli(["stack", "up"], env)
    assert again.returncode == 0, again.stderr
    assert {name: entry["pid"] for name, entry in status_json(env)[1].items()} == pids

    settings = Settings.load(env)
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    from newswatch.clients import elasticsearch_client, kafka_python_config

    admin = KafkaAdminClient(**kafka_python_config(settings))
    admin.create_topics([NewTopic("survivor", num_partitions=1, replication_factor=1)])
    admin.close()
    es = elasticsearch_client(settings)
    es.index(index="survivor", id="1", document={"title": "kept"}, refresh=True)
    es.close()

    down = run_cli(["stack", "down"], env)
    assert down.returncode == 0, down.stderr
    assert not any(psutil.pid_exists(pid) for pid in pids.values())
    code, status = status_json(env)
    assert code == 1 and not status["kafka"]["healthy"]

    assert run_cli(["stack", "up"], env).returncode == 0
    admin = KafkaAdminClient(**kafka_python_config(settings))
    assert "survivor" in admin.list_topics()
    admin.close()
    es = elasticsearch_client(settings)
    assert es.get(index="survivor", id="1")["_source"] == {"title": "kept"}
    es.close()
    assert run_cli(["stack", "down"], env).returncode == 0


def test_port_already_taken_gives_clear_error(stack: LocalStack, state_dir: Path, settings: Settings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = second_stack_env(state_dir) | {
            "NEWSWATCH_KAFKA_PORT": str(port),
            "NEWSWATCH_ELASTICSEARCH_URL": settings.elasticsearch_endpoint,
        }
        done = run_cli(["stack", "up"], env)
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "NEWSWATCH_KAFKA_PORT" in done.stderr


def test_existing_clusters_start_nothing(stack: LocalStack, state_dir: Path, settings: Settings) -> None:
    env = second_stack_env(state_dir) | {
        "NEWSWATCH_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
        "NEWSWATCH_ELASTICSEARCH_URL": settings.elasticsearch_endpoint,
    }
    done = run_cli(["stack", "up"], env)
    assert done.returncode == 0, done.stderr
    code, status = status_json(env)
    assert code == 0
    assert {entry["mode"] for entry in status.values()} == {"external"}
    assert not (state_dir / "kafka").exists() and not (state_dir / "elasticsearch").exists()


def alive_mentioning(directory: Path) -> list[psutil.Process]:
    """Live processes whose command line names ``directory``: the test stack's launchers, JVMs and node."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(directory) in arg for arg in proc.info["cmdline"] or []) and proc.status() != "zombie":
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.fixture
def no_strays(state_dir: Path) -> Iterator[None]:
    """Kill whatever a failing test left running from its own state directory (and only that)."""
    yield
    for proc in alive_mentioning(state_dir):
        proc.kill()


def test_kafka_dying_while_elasticsearch_starts_leaves_nothing_running(
    stack: LocalStack, state_dir: Path, no_strays: None
) -> None:
    """The broker exits at once (a heap too small for the JVM) right after Elasticsearch was launched."""
    env = second_stack_env(state_dir) | {"NEWSWATCH_KAFKA_HEAP": "1k"}
    done = run_cli(["stack", "up"], env)
    assert done.returncode == 1
    assert "Kafka exited during start-up" in done.stderr
    assert "elasticsearch: stopping pid" in done.stderr, done.stderr  # it had been launched
    assert alive_mentioning(state_dir) == [], "the failed `up` left processes running"
    down = run_cli(["stack", "down"], env)
    assert down.returncode == 0, down.stderr
    assert alive_mentioning(state_dir) == []


def test_down_stops_an_elasticsearch_whose_up_was_killed_mid_start(
    stack: LocalStack, state_dir: Path, settings: Settings, no_strays: None
) -> None:
    """`up` dies (SIGKILL: no clean-up of its own) before the node's pid is known; `down` stops the node."""
    env = second_stack_env(state_dir) | {"NEWSWATCH_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap}
    up = subprocess.Popen([*NEWSWATCH, "stack", "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not alive_mentioning(state_dir / "elasticsearch"):  # the launcher has started
            assert up.poll() is None, up.stderr.read().decode() if up.stderr else ""
            assert time.monotonic() < deadline, "Elasticsearch was never launched"
            time.sleep(0.05)
    finally:
        up.kill()
        up.wait()
    # Killed before the node wrote its pid file (its JVMs take seconds to get there): untracked.
    assert not (state_dir / "elasticsearch" / "elasticsearch.pid.json").exists()
    time.sleep(3)  # let the launch go on to start the node's JVM
    down = run_cli(["stack", "down"], env)
    assert down.returncode == 0, down.stderr
    assert "elasticsearch: stopped an unfinished start" in down.stdout
    assert alive_mentioning(state_dir) == []
    assert run_cli(["stack", "down"], env).stdout.count("not running") == 2
