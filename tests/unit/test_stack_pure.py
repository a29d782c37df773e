"""The local stack's pure parts: JDK choice, configuration text, pid files, the logging-jar check,
which processes belong to a launch, and the text shown while `up` waits."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from newswatch.stack.artifacts import (
    ArtifactError,
    check_single_logging_backend,
    ensure_kafka,
    kafka_pom,
    logging_backend_problem,
)
from newswatch.stack.jdk import JdkNotFound, find_jdk, java_major
from newswatch.stack.kafka import KafkaLayout, new_cluster_id, server_properties
from newswatch.stack.process import Launch, PidFile, ProcessView, launched_by
from newswatch.stack.progress import PeriodicLines, waiting_text


def fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "release").write_text(f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\n')
    return home


@pytest.mark.parametrize(("version", "major"), [("1.8.0_292", 8), ("17.0.15", 17), ("25", 25), ("21.0.1+12", 21)])
def test_java_major(version: str, major: int) -> None:
    assert java_major(version) == major


def test_newest_qualifying_jdk_wins(tmp_path: Path) -> None:
    fake_jdk(tmp_path, "old", "11.0.2")
    fake_jdk(tmp_path, "mid", "17.0.1")
    newest = fake_jdk(tmp_path, "new", "25.0.3")
    jdk = find_jdk(17, explicit=None, environ={}, jvm_dir=tmp_path)
    assert jdk.home == newest.resolve() and jdk.major == 25


def test_explicit_jdk_must_qualify(tmp_path: Path) -> None:
    old = fake_jdk(tmp_path / "x", "old", "11.0.2")
    fake_jdk(tmp_path, "new", "25.0.3")
    with pytest.raises(JdkNotFound, match="NEWSWATCH_JAVA_HOME"):
        find_jdk(17, explicit=old, environ={}, jvm_dir=tmp_path)


def test_no_jdk_names_what_was_tried_and_the_fix(tmp_path: Path) -> None:
    fake_jdk(tmp_path, "old", "11.0.2")
    with pytest.raises(JdkNotFound) as caught:
        find_jdk(17, explicit=None, environ={"JAVA_HOME": str(tmp_path / "nope")}, jvm_dir=tmp_path)
    message = str(caught.value)
    assert "older than 17" in message and "nope" in message and "NEWSWATCH_JAVA_HOME" in message


def test_server_properties_are_loopback_kraft(tmp_path: Path) -> None:
    text = server_properties(KafkaLayout(tmp_path), 19092, 19093)
    lines = dict(line.split("=", 1) for line in text.splitlines())
    assert lines["process.roles"] == "broker,controller"
    assert lines["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert lines["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert lines["log.dirs"] == str(tmp_path / "data")


def test_cluster_id_never_starts_with_a_dash() -> None:
    # 0xF8 as the first byte encodes to "-" in URL-safe base64: the storage tool would read an option.
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x10" * 16)])
    cluster_id = new_cluster_id(lambda: next(draws))
    assert cluster_id == "EBAQEBAQEBAQEBAQEBAQEA"
    assert len(new_cluster_id()) == 22


def test_kafka_pom_pins_versions() -> None:
    pom = kafka_pom("4.4.0")
    assert "<version>4.4.0</version>" in pom and "@" not in pom.replace("xmlns", "")


# What Maven puts in <cache>/kafka-4.4.0/lib (the logging part of it), as file names.
KAFKA_LIB = [
    "kafka_2.13-4.4.0.jar",
    "kafka-clients-4.4.0.jar",
    "slf4j-api-1.7.36.jar",
    "log4j-api-2.24.3.jar",
    "log4j-core-2.24.3.jar",
    "log4j-slf4j-impl-2.24.3.jar",
    "scala-logging_2.13-3.9.6.jar",
    "commons-logging-1.3.5.jar",
]


def test_the_resolved_kafka_classpath_has_one_usable_binding(tmp_path: Path) -> None:
    assert logging_backend_problem(KAFKA_LIB) is None
    for jar in KAFKA_LIB:
        (tmp_path / jar).write_bytes(b"")
    check_single_logging_backend(tmp_path)
    (tmp_path / "logback-classic-1.2.13.jar").write_bytes(b"")
    with pytest.raises(ArtifactError, match="exactly one SLF4J binding"):
        check_single_logging_backend(tmp_path)


@pytest.mark.parametrize(
    "extra",
    [
        "slf4j-log4j12-1.7.36.jar",
        "slf4j-jdk14-1.7.36.jar",
        "slf4j-nop-1.7.36.jar",
        "slf4j-simple-1.7.36.jar",
        "slf4j-reload4j-1.7.36.jar",
        "logback-classic-1.2.13.jar",
        "log4j-slf4j2-impl-2.24.3.jar",
        "log4j-slf4j-impl-2.17.1.jar",  # a second version of the same binding is a second binding
    ],
)
def test_a_second_binding_is_refused(extra: str) -> None:
    problem = logging_backend_problem([*KAFKA_LIB, extra])
    assert problem is not None and "exactly one SLF4J binding" in problem and extra in problem


@pytest.mark.parametrize(
    ("binding", "api"),
    [
        ("slf4j-log4j12-1.7.36.jar", "slf4j-api-1.7.36.jar"),
        ("slf4j-jdk14-1.7.36.jar", "slf4j-api-1.7.36.jar"),
        ("slf4j-nop-2.0.16.jar", "slf4j-api-2.0.16.jar"),
        ("slf4j-simple-2.0.16.jar", "slf4j-api-2.0.16.jar"),
        ("slf4j-reload4j-1.7.36.jar", "slf4j-api-1.7.36.jar"),
        ("logback-classic-1.5.16.jar", "slf4j-api-2.0.16.jar"),
        ("log4j-slf4j2-impl-2.24.3.jar", "slf4j-api-2.0.16.jar"),
    ],
)
def test_any_single_binding_its_api_can_load_passes(binding: str, api: str) -> None:
    assert logging_backend_problem([api, "log4j-core-2.24.3.jar", binding]) is None


@pytest.mark.parametrize(
    "binding", ["log4j-slf4j2-impl-2.24.3.jar", "logback-classic-1.5.16.jar", "slf4j-simple-2.0.16.jar"]
)
def test_a_binding_for_the_other_slf4j_line_is_refused(binding: str) -> None:
    jars = [name for name in KAFKA_LIB if name != "log4j-slf4j-impl-2.24.3.jar"] + [binding]
    problem = logging_backend_problem(jars)
    assert problem is not None and "slf4j-api-1.7.36.jar (SLF4J 1) cannot use" in problem


def test_no_binding_and_a_missing_log4j_core_are_refused() -> None:
    assert "found none" in (logging_backend_problem(["slf4j-api-1.7.36.jar", "log4j-to-slf4j-2.24.3.jar"]) or "")
    without_core = [name for name in KAFKA_LIB if not name.startswith("log4j-core")]
    assert "log4j-core is missing" in (logging_backend_problem(without_core) or "")


def test_every_up_checks_the_cached_lib_dir(tmp_path: Path) -> None:
    """The check runs against a cached, complete download too, not only right after Maven ran."""
    home = tmp_path / "kafka-4.4.0"
    (home / "lib").mkdir(parents=True)
    for jar in KAFKA_LIB:
        (home / "lib" / jar).write_bytes(b"")
    (home / ".complete").write_text("4.4.0")
    no_maven = "/nonexistent/mvn"  # the cached copy must be used: Maven would fail
    assert ensure_kafka(tmp_path, "4.4.0", no_maven, print) == home / "lib"
    (home / "lib" / "slf4j-simple-1.7.36.jar").write_bytes(b"")
    with pytest.raises(ArtifactError, match="exactly one SLF4J binding") as caught:
        ensure_kafka(tmp_path, "4.4.0", no_maven, print)
    assert str(home) in str(caught.value) and "slf4j-simple-1.7.36.jar" in str(caught.value)


def view(pid: int, session: int, create_time: float, *cmdline: str) -> ProcessView:
    return ProcessView(pid=pid, session=session, create_time=create_time, cmdline=cmdline)


def test_a_launch_is_its_session_members_that_name_its_directory_youngest_first() -> None:
    launch = Launch(pid=100, create_time=1000.0)
    marker = "/state/elasticsearch"
    processes = [
        view(100, 100, 1000.0, "runuser", "--", f"{marker}/home-8.19.21/bin/elasticsearch", "-d"),
        view(101, 100, 1000.5, "java", f"-Des.path.home={marker}/home-8.19.21", "CliToolLauncher"),
        view(102, 100, 1003.0, "java", f"-Des.path.home={marker}/home-8.19.21", "Elasticsearch"),
        view(103, 100, 1001.0, "sleep", "60"),  # in the session, but not the service's
        view(104, 555, 1002.0, "less", f"{marker}/logs/newswatch.log"),  # names it, other session
        view(105, 100, 990.0, "java", f"-Des.path.home={marker}/home-8.19.21"),  # older than the launch
    ]
    assert launched_by(launch, processes, marker) == [102, 101, 100]
    assert launched_by(launch, processes, "/elsewhere") == []


def test_waiting_text_names_each_service_and_its_seconds() -> None:
    text = waiting_text({"kafka": 12.4, "elasticsearch": 9.6}, 180)
    assert text == "waiting for health: kafka 12s, elasticsearch 10s (timeout 180s)"


def test_without_a_terminal_the_wait_prints_a_line_every_few_seconds() -> None:
    now = [0.0]
    lines: list[str] = []
    report = PeriodicLines(lines.append, timeout=180, every=10, clock=lambda: now[0])
    for second in range(0, 26):
        now[0] = float(second)
        report({"kafka": float(second)})
    assert lines == [
        "waiting for health: kafka 10s (timeout 180s)",
        "waiting for health: kafka 20s (timeout 180s)",
    ]
    report({})  # the wait is over; a new wait starts its own count
    now[0] = 100.0
    report({"elasticsearch": 0.0})
    now[0] = 105.0
    report({"elasticsearch": 5.0})
    assert len(lines) == 2


def test_pid_file_ignores_a_reused_pid(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid_file = PidFile(tmp_path / "x.pid")
        pid_file.write(proc.pid)
        assert pid_file.process() is not None
        record = pid_file.path.read_text().replace('"create_time": ', '"create_time": 1')
        pid_file.path.write_text(record)  # same pid, different start time: someone else's process
        assert pid_file.process() is None
    finally:
        proc.kill()
        proc.wait()
    assert PidFile(tmp_path / "missing.pid").process() is None
