"""The local stack's pure parts: JDK choice, configuration text, pid files, the logging-jar check."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from newswatch.stack.artifacts import ArtifactError, check_single_logging_backend, kafka_pom
from newswatch.stack.jdk import JdkNotFound, find_jdk, java_major
from newswatch.stack.kafka import KafkaLayout, new_cluster_id, server_properties
from newswatch.stack.process import PidFile


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


def test_logging_backend_must_be_exactly_one(tmp_path: Path) -> None:
    for jar in ("kafka_2.13-4.4.0.jar", "log4j-core-2.24.3.jar", "log4j-slf4j-impl-2.24.3.jar"):
        (tmp_path / jar).write_bytes(b"")
    check_single_logging_backend(tmp_path)
    (tmp_path / "logback-classic-1.5.0.jar").write_bytes(b"")
    with pytest.raises(ArtifactError, match="exactly one SLF4J binding"):
        check_single_logging_backend(tmp_path)


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
