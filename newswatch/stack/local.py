"""`newswatch stack up | down | status | logs | reset`: the local Kafka + Elasticsearch on loopback.

Nothing is started for a service whose settings point at an existing cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newswatch.settings import Settings
from newswatch.stack import artifacts, elasticsearch, kafka
from newswatch.stack.jdk import Jdk, find_jdk
from newswatch.stack.probes import Probe, probe_elasticsearch, probe_kafka
from newswatch.stack.process import PidFile, port_in_use, spawn, stop, tail, who_listens

Progress = Callable[[str], None]

KAFKA_MIN_JAVA = 17  # Kafka 4 brokers need Java 17+
ES_MIN_JAVA = 17  # Elasticsearch 8.19 runs on 17+ (9.x would need 21+)
SERVICES = ("kafka", "elasticsearch")


class StackError(RuntimeError):
    """The local stack could not do what was asked; the message says why, where the log is, and the fix."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    mode: str  # "local" or "external"
    running: bool
    endpoint: str
    pid: int | None = None
    probe: Probe | None = None
    log: Path | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.probe is not None and self.probe.healthy


class LocalStack:
    def __init__(self, settings: Settings, progress: Progress = lambda message: None) -> None:
        self.settings = settings
        self.progress = progress
        self.kafka = kafka.KafkaLayout(settings.state_dir / "kafka")
        self.es = elasticsearch.EsLayout(settings.state_dir / "elasticsearch")

    # ---------------------------------------------------------------- up
    def up(self) -> list[ServiceStatus]:
        s = self.settings
        started: list[str] = []
        kafka_proc = es_launcher = None
        if s.uses_local_kafka and PidFile(self.kafka.pid).process() is None:
            kafka_proc = self._start_kafka()
            started.append("kafka")
        if s.uses_local_elasticsearch and PidFile(self.es.tracked_pid).process() is None:
            es_launcher = self._start_elasticsearch()
            started.append("elasticsearch")
        # Both start at once and are awaited together: one slow service never delays tracking the other.
        deadline = time.monotonic() + s.stack_start_timeout
        pending = {name for name, proc in (("kafka", kafka_proc), ("elasticsearch", es_launcher)) if proc}
        while pending:
            if "kafka" in pending and self._kafka_ready(kafka_proc):
                pending.discard("kafka")
            if "elasticsearch" in pending and self._elasticsearch_ready(es_launcher):  # type: ignore[arg-type]
                pending.discard("elasticsearch")
            if pending and time.monotonic() > deadline:
                name = sorted(pending)[0]
                log = self.kafka.log if name == "kafka" else self.es.server_log
                raise StackError(
                    f"{name} did not become healthy within {s.stack_start_timeout:.0f}s "
                    f"(NEWSWATCH_STACK_START_TIMEOUT). Last lines of {log}:\n{tail(log)}"
                )
            if pending:
                time.sleep(0.5)
        statuses = self.status()
        for status in statuses:
            if not status.healthy:
                error = status.probe.error if status.probe else "not running"
                raise StackError(f"{status.name} at {status.endpoint} is not healthy: {error}")
        return statuses

    def _check_port(self, service: str, port: int, variable: str) -> None:
        if port_in_use(port):
            raise StackError(
                f"cannot start {service}: port {port} on 127.0.0.1 is already in use by {who_listens(port)}. "
                f"Fix: stop that program, or choose another port with {variable}=<port>."
            )

    def _jdk(self, minimum: int) -> Jdk:
        return find_jdk(minimum, explicit=self.settings.java_home, environ=os.environ)

    def _start_kafka(self) -> Any:
        s = self.settings
        self._check_port("Kafka", s.kafka_port, "NEWSWATCH_KAFKA_PORT")
        self._check_port("Kafka's controller", s.kafka_controller_port, "NEWSWATCH_KAFKA_CONTROLLER_PORT")
        lib = artifacts.ensure_kafka(s.cache_dir, s.kafka_version, s.maven_command, self.progress)
        jdk = self._jdk(KAFKA_MIN_JAVA)
        kafka.write_config(self.kafka, s.kafka_port, s.kafka_controller_port)
        self.progress(f"Kafka {s.kafka_version}: formatting storage (Java {jdk.version})")
        kafka.format_storage(jdk, lib, self.kafka)
        self.progress(f"Kafka {s.kafka_version}: starting on 127.0.0.1:{s.kafka_port}")
        proc = spawn(kafka.broker_argv(jdk, lib, self.kafka, s.kafka_heap), log_path=self.kafka.log, env=os.environ)
        PidFile(self.kafka.pid).write(proc.pid)
        return proc

    def _start_elasticsearch(self) -> subprocess.Popen[bytes]:
        s = self.settings
        self._check_port("Elasticsearch", s.elasticsearch_port, "NEWSWATCH_ELASTICSEARCH_PORT")
        self._check_port(
            "Elasticsearch's transport", s.elasticsearch_transport_port, "NEWSWATCH_ELASTICSEARCH_TRANSPORT_PORT"
        )
        archive = artifacts.ensure_elasticsearch_zip(
            s.cache_dir, s.elasticsearch_version, s.maven_command, self.progress
        )
        jdk = self._jdk(ES_MIN_JAVA)
        for directory in (self.es.root, self.es.data, self.es.logs, self.es.pid.parent):
            directory.mkdir(parents=True, exist_ok=True)
        self.progress(f"Elasticsearch {s.elasticsearch_version}: unpacking")
        home = elasticsearch.install_home(archive, self.es, s.elasticsearch_version)
        run_as = self._prepare_service_user(home, jdk) if os.geteuid() == 0 else None
        env = elasticsearch.launch_env(jdk, s.elasticsearch_heap, home, dict(os.environ))
        settings = elasticsearch.node_settings(self.es, s.elasticsearch_port, s.elasticsearch_transport_port)
        self.es.pid.unlink(missing_ok=True)
        who = f" as user {run_as}" if run_as else ""
        self.progress(f"Elasticsearch {s.elasticsearch_version}: starting on 127.0.0.1:{s.elasticsearch_port}{who}")
        argv = elasticsearch.launch_argv(home, self.es, settings, env, run_as)
        return spawn(argv, log_path=self.es.launcher_log, env={**os.environ, **env}, cwd=home)

    def _prepare_service_user(self, home: Path, jdk: Jdk) -> str:
        """Root may not run Elasticsearch: hand its files to an unprivileged system user."""
        user = elasticsearch.ensure_service_user(self.settings.elasticsearch_user)
        for path in (home, jdk.home):
            blocked = elasticsearch.untraversable_parent(path)
            if blocked is not None:
                raise StackError(
                    f"Elasticsearch runs as user {user.pw_name}, who cannot enter {blocked} (mode "
                    f"{oct(blocked.stat().st_mode & 0o777)}), a parent of {path}. Fix: set NEWSWATCH_STATE_DIR "
                    "(or NEWSWATCH_JAVA_HOME) to a path outside it, e.g. /var/lib/newswatch."
                )
        for path in (self.es.root,):
            elasticsearch.chown_tree(path, user.pw_uid, user.pw_gid)
        return user.pw_name

    def _kafka_ready(self, proc: Any) -> bool:
        if proc.poll() is not None:
            PidFile(self.kafka.pid).clear()
            raise StackError(
                f"Kafka exited during start-up (code {proc.returncode}). Last lines of {self.kafka.log}:\n"
                f"{tail(self.kafka.log)}"
            )
        if "Kafka Server started" in _read(self.kafka.log) and probe_kafka(self.settings, 3.0).healthy:
            self.progress("Kafka: healthy")
            return True
        return False

    def _elasticsearch_ready(self, launcher: subprocess.Popen[bytes]) -> bool:
        code = launcher.poll()
        if code is not None and code != 0:
            raise StackError(
                f"Elasticsearch failed to start (launcher exit code {code}). Last lines of "
                f"{self.es.launcher_log}:\n{tail(self.es.launcher_log, 15)}\n"
                f"Last lines of {self.es.server_log}:\n{tail(self.es.server_log, 15)}"
            )
        tracked = PidFile(self.es.tracked_pid)
        if self.es.pid.is_file() and tracked.process() is None:
            # Track the server's own pid (with its start time) as soon as it exists, so `down`
            # can stop it even if this start-up is interrupted.
            tracked.write(int(self.es.pid.read_text().strip()))
        # The launcher (-d) exits 0 only once the node is up; then the cluster must answer healthy.
        if code == 0 and tracked.process() is not None and probe_elasticsearch(self.settings, 5.0).healthy:
            self.progress("Elasticsearch: healthy")
            return True
        return False

    # ---------------------------------------------------------------- status
    def status(self) -> list[ServiceStatus]:
        s = self.settings
        return [
            self._status("kafka", s.uses_local_kafka, s.kafka_bootstrap, self.kafka.pid, self.kafka.log, probe_kafka),
            self._status(
                "elasticsearch",
                s.uses_local_elasticsearch,
                s.elasticsearch_endpoint,
                self.es.tracked_pid,
                self.es.server_log,
                probe_elasticsearch,
            ),
        ]

    def _status(
        self,
        name: str,
        local: bool,
        endpoint: str,
        pid_path: Path,
        log: Path,
        prober: Callable[[Settings, float], Probe],
    ) -> ServiceStatus:
        proc = PidFile(pid_path).process() if local else None
        running = proc is not None or not local
        probe = prober(self.settings, 5.0) if running else None
        return ServiceStatus(
            name=name,
            mode="local" if local else "external",
            running=running,
            endpoint=endpoint,
            pid=proc.pid if proc else None,
            probe=probe,
            log=log if local else None,
        )

    # ---------------------------------------------------------------- down / reset / logs
    def down(self, services: Collection[str] = SERVICES) -> dict[str, str]:
        """Stop the named services (default: both); ``up()`` afterwards starts again only what is stopped."""
        unknown = set(services) - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown service(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVICES)}")
        outcome: dict[str, str] = {}
        for name, pid_path in (("elasticsearch", self.es.tracked_pid), ("kafka", self.kafka.pid)):
            if name not in services:
                continue
            pid_file = PidFile(pid_path)
            proc = pid_file.process()
            if proc is None:
                outcome[name] = "not running"
            else:
                self.progress(f"{name}: stopping pid {proc.pid}")
                outcome[name] = stop(proc, self.settings.stack_stop_timeout)
            pid_file.clear()
        return outcome

    def reset(self) -> None:
        """Stop everything and delete all local data (the downloads in the cache stay)."""
        self.down()
        for path in (self.kafka.root, self.es.data, self.es.logs):
            if path.exists():
                shutil.rmtree(path)

    def log_files(self) -> dict[str, list[Path]]:
        return {
            "kafka": [self.kafka.log],
            "elasticsearch": [self.es.server_log, self.es.launcher_log],
        }


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
