"""`newswatch run`: the whole watch floor in one command, on bundled demo feeds or your own.

1. the local stack (unless settings point at clusters), topics, index template and alias;
2. without ``--feeds``: the bundled demo feeds, served on loopback and released over ~90 s, stamped
   as if published live so that the default alert rules fire;
3. collector, Faust worker, indexer and alerter as supervised child processes (a crash is
   reported and the child restarted);
4. a live view until Ctrl-C or the end of ``--for``, then a clean stop and a summary.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from newswatch.run.live import Snapshot, SnapshotReader, render, status_line
from newswatch.run.supervisor import ChildSpec, Supervisor
from newswatch.settings import Settings
from newswatch.stack.process import free_port
from newswatch.terminal import print_error

CLI = [sys.executable, "-m", "newswatch.cli"]


def prepare_clusters(settings: Settings, say: Callable[[str], None]) -> None:
    """Local stack if needed, then topics and the index: idempotent, as every service also does it."""
    from indexers.bootstrap import bootstrap_from_settings
    from newswatch.observability import configure_logging
    from newswatch.stack.local import LocalStack
    from newswatch.topics import ensure_pipeline_topics

    for status in LocalStack(settings, progress=say).up():
        facts = ", ".join(f"{key}={value}" for key, value in (status.probe.facts if status.probe else {}).items())
        say(f"{status.name} ({status.mode}, {status.endpoint}) healthy: {facts}")
    created = ensure_pipeline_topics(settings)
    if created:
        say(f"created topics {', '.join(created)}")
    bootstrap_from_settings(settings, configure_logging("run", "ERROR", json_logs=False))


def start_demo_feeds(log_dir: Path, say: Callable[[str], None]) -> tuple[subprocess.Popen[bytes], Path]:
    """Serve the bundled demo feeds on a free loopback port; returns the server and its feeds file."""
    port = free_port()
    feeds_file = log_dir / "demo-feeds.yaml"
    feeds_file.unlink(missing_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "demo-server.log").open("ab") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "newswatch.demo.server",
                "--port",
                str(port),
                "--write-feeds",
                str(feeds_file),
                "--live-dates",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while not feeds_file.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the demo feed server did not start; see {log_dir / 'demo-server.log'}")
        time.sleep(0.2)
    say(f"demo feeds served at http://127.0.0.1:{port}/ (released over ~90 s, dated as if live)")
    return server, feeds_file


def child_specs(settings: Settings, feeds_file: Path, rules_file: Path | None, demo: bool) -> list[ChildSpec]:
    env = dict(os.environ)
    if demo:
        env["NEWSWATCH_ALLOW_PRIVATE_ADDRESSES"] = "true"  # the demo server is on loopback
    env.setdefault("NEWSWATCH_LOG_LEVEL", "INFO")
    alert = [*CLI, "alert"] + (["--rules", str(rules_file)] if rules_file else [])
    return [
        ChildSpec("collector", [*CLI, "collect", "--feeds", str(feeds_file)], env),
        ChildSpec("streams", [*CLI, "streams"], env),
        ChildSpec("indexer", [*CLI, "index"], env),
        ChildSpec("alerter", alert, env),
    ]


def run_pipeline(
    settings: Settings, feeds: Path | None, rules: Path | None, duration: float | None, console: Console
) -> int:
    from kafka import KafkaConsumer

    from newswatch.clients import elasticsearch_client, kafka_python_config
    from newswatch.topics import Topics

    events: list[str] = []

    def say(message: str) -> None:
        events.append(f"{time.strftime('%H:%M:%S')} {message}")
        console.print(f"[dim]…[/dim] {message}")

    from newswatch.stack.artifacts import ArtifactError
    from newswatch.stack.errors import StackError
    from newswatch.stack.jdk import JdkNotFound

    run_dir = settings.state_dir / "run"
    try:
        prepare_clusters(settings, say)
    except (StackError, ArtifactError, JdkNotFound) as exc:  # the same clean error as `stack up`
        print_error(str(exc))
        return 1
    demo_server = None
    if feeds is None:
        demo_server, feeds = start_demo_feeds(run_dir, say)
    supervisor = Supervisor(child_specs(settings, feeds, rules, demo_server is not None), run_dir / "logs", say)
    stop_requested = False

    def request_stop(*_: Any) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    supervisor.start_all()
    say(f"services started; their logs are in {run_dir / 'logs'}")
    topics = Topics(settings.topic_prefix)
    # Short timeouts: while the broker is down the view shows stale figures instead of blocking restarts.
    consumer = KafkaConsumer(
        **kafka_python_config(settings) | {"request_timeout_ms": 4000},
        session_timeout_ms=3000,
        heartbeat_interval_ms=1000,
    )
    es = elasticsearch_client(settings)
    reader = SnapshotReader(
        consumer=consumer,
        es=es,
        raw_topic=topics.raw,
        tagged_topic=topics.tagged,
        alias=settings.index_alias,
        alerts_index=settings.alerts_index,
        collector_metrics_url=f"http://127.0.0.1:{settings.collector_metrics_port}/metrics"
        if settings.collector_metrics_port
        else None,
    )
    started = time.monotonic()
    try:
        watch(
            supervisor,
            reader,
            console,
            events,
            lambda: stop_requested or (duration is not None and time.monotonic() - started >= duration),
        )
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping the services …")
        supervisor.stop_all()
        if demo_server is not None:
            demo_server.terminate()
            demo_server.wait(timeout=10)
        final = reader.read()
        consumer.close()
        es.close()
    print_summary(console, settings, final, time.monotonic() - started)
    return 0


def watch(
    supervisor: Supervisor, reader: SnapshotReader, console: Console, events: list[str], done: Callable[[], bool]
) -> None:
    """Refresh the live view every second (a one-line status every 5 s when not on a terminal)."""
    previous: Snapshot | None = None
    current = reader.read()
    last_line = 0.0
    live_view = Live(console=console, refresh_per_second=2) if console.is_terminal else contextlib.nullcontext()
    with live_view as live:
        while not done():
            supervisor.check()
            previous, current = current, reader.read()
            if console.is_terminal:
                children = [
                    (
                        name,
                        f"running (pid {c.pid})" + (f", {c.restarts} restarts" if c.restarts else "")
                        if c.running
                        else "restarting",
                    )
                    for name, c in supervisor.children.items()
                ]
                live.update(render(previous, current, children, events))
            elif current.at - last_line >= 5:
                console.print(status_line(previous, current), highlight=False)
                last_line = current.at
            time.sleep(1.0)


def print_summary(console: Console, settings: Settings, snapshot: Snapshot, seconds: float) -> None:
    console.rule("summary")
    console.print(
        f"ran {seconds:.0f}s: {snapshot.collected:,} articles collected, {snapshot.tagged:,} tagged, "
        f"{snapshot.indexed:,} searchable in `{settings.index_alias}`, {snapshot.alert_total} alert(s)"
    )
    for tag, count in sorted(snapshot.tag_counts.items()):
        console.print(f"  {tag}: {count:,} articles")
    console.print("\nsearch what was collected:")
    console.print('  newswatch search "security guarantees" --tag nato-russia-talks')
    console.print("  newswatch search --tag troop-buildup --since 2d")
    console.print("  newswatch alerts list --since 24h")
    console.print(f"Kibana: point it at {settings.elasticsearch_endpoint} and import the data view and dashboard:")
    console.print(
        "  curl -X POST \"$KIBANA_URL/api/saved_objects/_import?overwrite=true\" -H 'kbn-xsrf: true' "
        "--form file=@deploy/kibana/newswatch.ndjson"
    )
