"""Elasticsearch stopped for 30 s and the Kafka broker restarted while articles stream through
`newswatch run`: nothing lost, nothing doubled.

Runs on a PRIVATE stack (its own Kafka and Elasticsearch on free ports, its own state directory), so
stopping its services disturbs nothing else; the shared stack on 9092/9200 is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from newswatch.clients import elasticsearch_client
from newswatch.settings import Settings
from newswatch.stack.local import LocalStack
from tests.integration.pipeline_support import (
    SERVICES,
    FeedServer,
    FeedSpec,
    Names,
    PipelineRun,
    count,
    deadletter_count,
    documents,
    filler_stories,
    free_port,
    kill_marked,
    new_names,
    pipeline_env,
    running,
)
from tests.integration.waiting import wait_until

ARTICLES = 150
STREAM_SECONDS = 70.0
KAFKA_RESTART_AT = 8.0  # seconds into the stream
ES_STOP_AT = 30.0
ES_OUTAGE = 30.0
FEEDS = [
    FeedSpec("/lowland-post.xml", "Lowland Post", "lowland-post.example"),
    FeedSpec("/summit-daily.xml", "Summit Daily", "summit-daily.example"),
    FeedSpec("/river-news.xml", "River News", "river-news.example"),
]
# What a private stack may still take from the environment: where the downloads and the JDK are.
KEEP = {
    "NEWSWATCH_CACHE_DIR",
    "NEWSWATCH_JAVA_HOME",
    "NEWSWATCH_MAVEN_COMMAND",
    "NEWSWATCH_ELASTICSEARCH_USER",
    "NEWSWATCH_KAFKA_VERSION",
    "NEWSWATCH_ELASTICSEARCH_VERSION",
    "NEWSWATCH_STACK_START_TIMEOUT",
}


@dataclass
class PrivateStack:
    stack: LocalStack
    settings: Settings
    env: dict[str, str]
    names: Names
    state_dir: Path

    def healthy(self) -> dict[str, bool]:
        return {status.name: status.healthy for status in self.stack.status()}

    def pids(self) -> dict[str, int | None]:
        return {status.name: status.pid for status in self.stack.status()}


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[PrivateStack]:
    # Traversable by the unprivileged Elasticsearch user when the tests run as root.
    state_dir = Path(tempfile.mkdtemp(prefix="newswatch-pipeline-stack-"))
    state_dir.chmod(0o755)
    names = new_names()
    drop = [k for k in os.environ if k.startswith("NEWSWATCH_") and k not in KEEP]
    env = pipeline_env(
        names,
        state_dir,
        drop=drop,
        NEWSWATCH_KAFKA_PORT=str(free_port()),
        NEWSWATCH_KAFKA_CONTROLLER_PORT=str(free_port()),
        NEWSWATCH_ELASTICSEARCH_PORT=str(free_port()),
        NEWSWATCH_ELASTICSEARCH_TRANSPORT_PORT=str(free_port()),
        NEWSWATCH_KAFKA_HEAP="384m",
        NEWSWATCH_ELASTICSEARCH_HEAP="512m",
        NEWSWATCH_STACK_STOP_TIMEOUT="30",
    )
    settings = Settings.load(env)
    assert settings.uses_local_kafka and settings.uses_local_elasticsearch
    stack = LocalStack(settings, progress=lambda message: print(f"[private stack] {message}"))
    try:
        stack.up()
        yield PrivateStack(stack, settings, env, names, state_dir)
    finally:
        stack.down()
        kill_marked(names.base)
        if (state_dir / "run" / "logs").is_dir():  # kept with the test's other files, for a post-mortem
            shutil.copytree(state_dir / "run" / "logs", tmp_path / "run-logs", dirs_exist_ok=True)
        subprocess.run(["rm", "-rf", str(state_dir)], check=False)


def test_down_refuses_unknown_service_names(tmp_path: Path) -> None:
    stack = LocalStack(Settings.load({"NEWSWATCH_STATE_DIR": str(tmp_path)}))
    with pytest.raises(ValueError, match="unknown service"):
        stack.down(services="kafka")  # a string, not a collection of names
    assert stack.down(services=()) == {}
    assert stack.down(services=("kafka",)) == {"kafka": "not running"}


@pytest.mark.timeout(600)
def test_elasticsearch_stopped_30s_and_broker_restarted_mid_stream_lose_nothing(
    private_stack: PrivateStack, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    started = time.monotonic()
    private, names = private_stack, private_stack.names
    server = FeedServer(FEEDS)
    items = server.add(filler_stories(ARTICLES))
    feeds_file = server.write_feeds_file(tmp_path / "feeds.yaml", interval=1)
    # No --rules: the shipped default rules, console channel only; `run` finds the private stack up.
    run = PipelineRun(private.env, feeds_file, None, tmp_path / "run.out")
    es = elasticsearch_client(private.settings)
    events: list[str] = []

    def note(what: str) -> None:
        events.append(f"{time.strftime('%H:%M:%S')} {time.monotonic() - stream_start:5.1f}s {what}")

    try:
        with running(run, private.settings, names):
            run.wait_for_children(timeout=90)
            server.release_over(items, STREAM_SECONDS)
            stream_start = time.monotonic()
            wait_until(lambda: count(es, names.alias) > 0, 60, "the first articles to be searchable")
            note(f"{count(es, names.alias)} searchable")

            time.sleep(max(0.0, stream_start + KAFKA_RESTART_AT - time.monotonic()))
            note("kafka: stopping")
            es_pid = private.pids()["elasticsearch"]
            assert private.stack.down(services=("kafka",)) == {"kafka": "stopped"}
            assert private.healthy() == {"kafka": False, "elasticsearch": True}
            private.stack.up()
            assert private.pids()["elasticsearch"] == es_pid, "up() starts only what is stopped"
            note(f"kafka: up again; {count(es, names.alias)} searchable")

            time.sleep(max(0.0, stream_start + ES_STOP_AT - time.monotonic()))
            before = count(es, names.alias)
            assert private.stack.down(services=("elasticsearch",)) == {"elasticsearch": "stopped"}
            note(f"elasticsearch: stopped with {before} searchable")
            assert private.healthy() == {"kafka": True, "elasticsearch": False}
            time.sleep(ES_OUTAGE)
            note("elasticsearch: starting")
            private.stack.up()
            note(f"elasticsearch: up again; {count(es, names.alias)} searchable")
            run.check_alive()

            wait_until(server.all_due, STREAM_SECONDS + 10, "the feeds to serve every article")
            note("every article served")
            wait_until(lambda: count(es, names.alias) >= ARTICLES, 180, f"all {ARTICLES} to be searchable", every=1)
            note(f"all {ARTICLES} searchable")
            time.sleep(3)  # a replay that doubled something would show now
            code = run.stop()
            output = run.output()
            docs = documents(es, names.alias)
            dead = deadletter_count(private.settings, names)
            crashes = {name: run.child_log(name).count("Traceback") for name in SERVICES}
    finally:
        es.close()
        server.close()

    assert code == 0, output[-3000:]
    urls = [doc["url"] for doc in docs]
    assert len(urls) == len(set(urls)) == ARTICLES, "every distinct article indexed exactly once"
    assert set(urls) == {item.url for item in items} == server.served_urls()
    assert dead == 0

    stamps = sorted(datetime.fromisoformat(doc["indexed"]) for doc in docs)
    longest = max((b - a).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False))
    flat = " ".join(output.split())
    restarts = [name for name in SERVICES if f"{name} restarted" in flat]
    took = time.monotonic() - started
    print("\n" + "\n".join(events))
    print(
        f"longest pause in indexing {longest:.0f}s; services restarted by `run`: {restarts or 'none'}; "
        f"tracebacks in service logs: {crashes}; test {took:.0f}s"
    )
    record_property("services_restarted", ",".join(restarts))
