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

import psutil

from newswatch.settings import Settings
from newswatch.stack import artifacts, elasticsearch, kafka
from newswatch.stack.errors import StackError
from newswatch.stack.jdk import Jdk, find_jdk
from newswatch.stack.probes import Probe, probe_elasticsearch, probe_kafka
from newswatch.stack.process import PidFile, launch_members, port_in_use, spawn, stop, tail, who_listens
from newswatch.stack.progress import PeriodicLines, WaitReport

Progress = Callable[[str], None]

KAFKA_MIN_JAVA = 17  # Kafka 4 brokers need Java 17+
ES_MIN_JAVA = 17  # Elasticsearch 8.19 runs on 17+ (9.x would need 21+)
SERVICES = ("kafka", "elasticsearch")

__all__ = ["SERVICES", "LocalStack", "ServiceStatus", "StackError"]


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
    def __init__(
        self, settings: Settings, progress: Progress = lambda message: None, waiting: WaitReport | None = None
    ) -> None:
        self.settings = settings
        self.progress = progress
        # Without a display of its own, the wait shows as a plain progress line every few seconds.
        self.waiting = waiting or PeriodicLines(progress, settings.stack_start_timeout)
        self.kafka = kafka.KafkaLayout(settings.state_dir / "kafka")
        self.es = elasticsearch.EsLayout(settings.state_dir / "elasticsearch")

    # ---------------------------------------------------------------- up
    def up(self) -> list[ServiceStatus]:
        """Start what is not running and wait for health.

        If this fails or is interrupted (Ctrl-C) before both are healthy, the services it launched
        are stopped again: a failed ``up`` leaves nothing running that it started.
        """
        s = self.settings
        to_start = []
        if s.uses_local_kafka and PidFile(self.kafka.pid).process() is None:
            to_start.append("kafka")
        if s.uses_local_elasticsearch and PidFile(self.es.tracked_pid).process() is None:
            to_start.append("elasticsearch")
        launched: list[str] = []
        try:
            self._start_and_wait(to_start, launched)
            statuses = self.status()
            for status in statuses:
                if not status.healthy:
                    error = status.probe.error if status.probe else "not running"
                    raise StackError(f"{status.name} at {status.endpoint} is not healthy: {error}")
            return statuses
        except BaseException:
            self._stop_launched(launched)
            raise

    def _start_and_wait(self, to_start: list[str], launched: list[str]) -> None:
        """Launch ``to_start`` (each is named in ``launched`` just before its process starts), then await both."""
        s = self.settings
        if "elasticsearch" in to_start:
            self._stop_unfinished_elasticsearch_launch()
        self._check_ports(to_start)
        kafka_proc = es_launcher = None
        launched_at: dict[str, float] = {}
        if "kafka" in to_start:
            kafka_proc = self._start_kafka(launched)
            launched_at["kafka"] = time.monotonic()
        if "elasticsearch" in to_start:
            es_launcher = self._start_elasticsearch(launched)
            launched_at["elasticsearch"] = time.monotonic()
        # Both start at once and are awaited together: one slow service never delays tracking the other.
        deadline = time.monotonic() + s.stack_start_timeout
        pending = set(launched_at)
        try:
            while pending:
                if "kafka" in pending and self._kafka_ready(kafka_proc, time.monotonic() - launched_at["kafka"]):
                    pending.discard("kafka")
                if "elasticsearch" in pending and self._elasticsearch_ready(
                    es_launcher,  # type: ignore[arg-type]
                    time.monotonic() - launched_at["elasticsearch"],
                ):
                    pending.discard("elasticsearch")
                if pending and time.monotonic() > deadline:
                    name = sorted(pending)[0]
                    log = self.kafka.log if name == "kafka" else self.es.server_log
                    raise StackError(
                        f"{name} did not become healthy within {s.stack_start_timeout:.0f}s "
                        f"(NEWSWATCH_STACK_START_TIMEOUT). Last lines of {log}:\n{tail(log)}"
                    )
                if pending:
                    now = time.monotonic()
                    self.waiting({name: now - launched_at[name] for name in launched_at if name in pending})
                    time.sleep(0.5)
        finally:
            self.waiting({})

    def _stop_launched(self, launched: list[str]) -> None:
        """After a failed or interrupted ``up``: stop what it launched, keeping the original error."""
        if not launched:
            return
        self.progress(f"start-up did not finish: stopping what it launched ({', '.join(launched)})")
        try:
            self.down(launched)
        except Exception as exc:  # the start-up's own error matters more; say how to finish the job
            self.progress(f"could not stop everything ({type(exc).__name__}: {exc}); run `newswatch stack down`")

    def _check_ports(self, to_start: list[str]) -> None:
        """Before anything starts: a taken port fails the whole ``up`` while nothing is running yet."""
        s = self.settings
        if "kafka" in to_start:
            self._check_port("Kafka", s.kafka_port, "NEWSWATCH_KAFKA_PORT")
            self._check_port("Kafka's controller", s.kafka_controller_port, "NEWSWATCH_KAFKA_CONTROLLER_PORT")
        if "elasticsearch" in to_start:
            self._check_port("Elasticsearch", s.elasticsearch_port, "NEWSWATCH_ELASTICSEARCH_PORT")
            self._check_port(
                "Elasticsearch's transport", s.elasticsearch_transport_port, "NEWSWATCH_ELASTICSEARCH_TRANSPORT_PORT"
            )

    def _check_port(self, service: str, port: int, variable: str) -> None:
        if port_in_use(port):
            raise StackError(
                f"cannot start {service}: port {port} on 127.0.0.1 is already in use by {who_listens(port)}. "
                f"Fix: stop that program, or choose another port with {variable}=<port>."
            )

    def _jdk(self, minimum: int) -> Jdk:
        return find_jdk(minimum, explicit=self.settings.java_home, environ=os.environ)

    def _start_kafka(self, launched: list[str]) -> Any:
        s = self.settings
        lib = artifacts.ensure_kafka(s.cache_dir, s.kafka_version, s.maven_command, self.progress)
        jdk = self._jdk(KAFKA_MIN_JAVA)
        kafka.write_config(self.kafka, s.kafka_port, s.kafka_controller_port)
        self.progress(f"Kafka {s.kafka_version}: formatting storage (Java {jdk.version})")
        kafka.format_storage(jdk, lib, self.kafka)
        self.progress(f"Kafka {s.kafka_version}: starting on 127.0.0.1:{s.kafka_port}")
        launched.append("kafka")
        proc = spawn(kafka.broker_argv(jdk, lib, self.kafka, s.kafka_heap), log_path=self.kafka.log, env=os.environ)
        PidFile(self.kafka.pid).write(proc.pid)
        return proc

    def _start_elasticsearch(self, launched: list[str]) -> subprocess.Popen[bytes]:
        s = self.settings
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
        launched.append("elasticsearch")
        launcher = spawn(argv, log_path=self.es.launcher_log, env={**os.environ, **env}, cwd=home)
        # Recorded at once: the node's own pid comes seconds later, and `down` must be able to stop
        # this launch (launcher, its JVMs, the node) whatever happens to this process meanwhile.
        PidFile(self.es.launcher_pid).write(launcher.pid)
        return launcher

    def _stop_unfinished_elasticsearch_launch(self) -> None:
        """Stop what is left of a launch whose ``up`` died before tracking the node (e.g. killed)."""
        leftovers = self._elasticsearch_launch_members()
        if leftovers:
            self.progress(f"Elasticsearch: stopping {len(leftovers)} process(es) left by an unfinished start")
            for proc in leftovers:
                stop(proc, self.settings.stack_stop_timeout)
        PidFile(self.es.launcher_pid).clear()

    def _elasticsearch_launch_members(self) -> list[psutil.Process]:
        return launch_members(PidFile(self.es.launcher_pid).recorded(), marker=str(self.es.root))

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

    def _kafka_ready(self, proc: Any, elapsed: float) -> bool:
        if proc.poll() is not None:
            PidFile(self.kafka.pid).clear()
            raise StackError(
                f"Kafka exited during start-up (code {proc.returncode}). Last lines of {self.kafka.log}:\n"
                f"{tail(self.kafka.log)}"
            )
        if "Kafka Server started" in _read(self.kafka.log) and probe_kafka(self.settings, 3.0).healthy:
            self.progress(f"Kafka: healthy after {elapsed:.0f}s")
            return True
        return False

    def _elasticsearch_ready(self, launcher: subprocess.Popen[bytes], elapsed: float) -> bool:
        code = launcher.poll()
        if code is not None and code != 0:
            raise StackError(
                f"Elasticsearch failed to start (launcher exit code {code}). Last lines of "
                f"{self.es.launcher_log}:\n{tail(self.es.launcher_log, 15)}\n"
                f"Last lines of {self.es.server_log}:\n{tail(self.es.server_log, 15)}"
            )
        tracked = PidFile(self.es.tracked_pid)
        if self.es.pid.is_file() and tracked.process() is None:
            # Track the server's own pid (with its start time) as soon as it exists: `status` and
            # later `up`s know the node by it (`down` could already stop it through the launch).
            try:
                tracked.write(int(self.es.pid.read_text().strip()))
            except (ValueError, psutil.NoSuchProcess):
                pass  # caught mid-write, or the node already exited: the next poll (or the launcher) tells
        # The launcher (-d) exits 0 only once the node is up; then the cluster must answer healthy.
        if code == 0 and tracked.process() is not None and probe_elasticsearch(self.settings, 5.0).healthy:
            self.progress(f"Elasticsearch: healthy after {elapsed:.0f}s")
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
        if "elasticsearch" in services:
            outcome["elasticsearch"] = self._stop_elasticsearch()
        if "kafka" in services:
            pid_file = PidFile(self.kafka.pid)
            proc = pid_file.process()
            if proc is None:
                outcome["kafka"] = "not running"
            else:
                self.progress(f"kafka: stopping pid {proc.pid}")
                outcome["kafka"] = stop(proc, self.settings.stack_stop_timeout)
            pid_file.clear()
        return outcome

    def _stop_elasticsearch(self) -> str:
        """The node, and whatever is left of the launch that started it (launcher, its JVMs).

        The launch is recorded before the node's pid is known, so a node whose ``up`` was interrupted
        or killed before it could track the node is stopped too.
        """
        tracked = PidFile(self.es.tracked_pid)
        node = tracked.process()
        members = self._elasticsearch_launch_members()
        procs = ([node] if node is not None else []) + [
            proc for proc in members if node is None or proc.pid != node.pid
        ]
        if not procs:
            outcome = "not running"
        else:
            self.progress(f"elasticsearch: stopping pid {', '.join(str(proc.pid) for proc in procs)}")
            results = [stop(proc, self.settings.stack_stop_timeout) for proc in procs]
            outcome = results[0] if node is not None else f"stopped an unfinished start ({', '.join(results)})"
        tracked.clear()
        PidFile(self.es.launcher_pid).clear()
        return outcome

    def reset(self) -> None:
        """Stop everything and delete all local data (the downloads in the cache stay)."""
        self.down()
        for path in (self.kafka.root, self.es.data, self.es.logs):
            if path.exists():
                shutil.rmtree(path)

    def log_files(self) -> dict[str, list[Path]]:
        return {
            "kafka": [self.kafka.log, self.kafka.format_log],
            "elasticsearch": [self.es.server_log, self.es.launcher_log],
        }


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
