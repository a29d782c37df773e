"""A single-node Apache Kafka broker in KRaft mode, on loopback, from jars fetched by Maven."""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newswatch.stack.errors import command_failed, decoded
from newswatch.stack.jdk import Jdk

LOG4J2_PROPERTIES = """\
# Written by newswatch: Kafka's broker logs to stdout, which `newswatch stack` sends to server.log.
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka-request.name = kafka.request.logger
logger.kafka-request.level = WARN
logger.state-change.name = state.change.logger
logger.state-change.level = WARN
"""


@dataclass(frozen=True)
class KafkaLayout:
    root: Path  # <state>/kafka

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def config(self) -> Path:
        return self.root / "config" / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "config" / "log4j2.properties"

    @property
    def log(self) -> Path:
        return self.root / "logs" / "server.log"

    @property
    def format_log(self) -> Path:
        return self.root / "logs" / "storage-format.log"

    @property
    def pid(self) -> Path:
        return self.root / "kafka.pid"

    @property
    def cluster_id_file(self) -> Path:
        return self.root / "cluster-id"


def server_properties(layout: KafkaLayout, port: int, controller_port: int) -> str:
    """Broker + controller in one process; small thread pools and buffers for a 2-core machine."""
    settings: dict[str, Any] = {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": layout.data,
        "num.partitions": 4,
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 4,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        # A lone test broker has nobody to wait for; the 3 s default only slows every group join.
        "group.initial.rebalance.delay.ms": 0,
        "auto.create.topics.enable": "true",
        "num.network.threads": 2,
        "num.io.threads": 2,
        "num.recovery.threads.per.data.dir": 1,
        "log.cleaner.dedupe.buffer.size": 16 * 1024 * 1024,
        "log.retention.hours": 168,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def new_cluster_id(random_uuid: Callable[[], uuid.UUID] = uuid.uuid4) -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own Uuid.randomUuid, an id that starts with "-" is drawn again: the storage tool's
    argument parser would read it as an option (1 draw in 64 does).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(random_uuid().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def write_config(layout: KafkaLayout, port: int, controller_port: int) -> None:
    layout.config.parent.mkdir(parents=True, exist_ok=True)
    layout.config.write_text(server_properties(layout, port, controller_port))
    layout.log4j.write_text(LOG4J2_PROPERTIES)


def _java_base(jdk: Jdk, lib: Path, layout: KafkaLayout) -> list[str]:
    return [
        str(jdk.java),
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={layout.log4j}",
        f"-Dkafka.logs.dir={layout.log.parent}",
        "-cp",
        f"{lib}/*",
    ]


def format_storage(jdk: Jdk, lib: Path, layout: KafkaLayout) -> str:
    """Format the KRaft log directory once; the cluster id is kept so restarts reuse the data."""
    if layout.cluster_id_file.is_file():
        cluster_id = layout.cluster_id_file.read_text().strip()
    else:
        cluster_id = new_cluster_id()
    argv = [
        *_java_base(jdk, lib, layout),
        "kafka.tools.StorageTool",
        "format",
        # The "=" form keeps the id one argument whatever character it starts with.
        f"--cluster-id={cluster_id}",
        f"--config={layout.config}",
        "--ignore-formatted",
    ]
    failure: str | None = None
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        output = done.stdout
        if done.returncode != 0:
            failure = f"exited with code {done.returncode}"
    except subprocess.TimeoutExpired as exc:
        output, failure = decoded(exc.output), "did not finish within 120 s"
    except OSError as exc:
        output, failure = "", f"could not be run ({exc.strerror or exc})"
    layout.format_log.parent.mkdir(parents=True, exist_ok=True)
    layout.format_log.write_text(output)
    if failure is not None:
        raise command_failed(
            f"Kafka could not format its storage in {layout.data}",
            argv,
            failure,
            output,
            f"read the output above. A broken download is fetched again after deleting {lib.parent}; "
            "data left by another Kafka cluster or version is wiped by `newswatch stack reset` "
            "(it deletes all local Kafka and Elasticsearch data).",
            log=layout.format_log,
        )
    layout.cluster_id_file.write_text(cluster_id)
    return cluster_id


def broker_argv(jdk: Jdk, lib: Path, layout: KafkaLayout, heap: str) -> list[str]:
    return [
        str(jdk.java),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        *_java_base(jdk, lib, layout)[1:],
        "kafka.Kafka",
        str(layout.config),
    ]
