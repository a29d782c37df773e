"""Support for the collector integration tests (no tests here): a local feed server whose feeds the
test changes at will and which records every request, collector replicas as real subprocesses
(`python -m newswatch.cli collect`), and readers of what reached Kafka.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

from collectors.kafka_io import read_latest, read_to_end
from collectors.layout import CollectorTopics
from newswatch.schema import Article, decode_article
from newswatch.settings import Settings
from newswatch.stack.process import free_port
from tests.integration.http_support import loopback_get_server

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Item:
    guid: str
    title: str
    text: str = "Diplomats met in Brussels."

    @property
    def link(self) -> str:
        return f"https://news.example.org/{self.guid}"


@dataclass
class Feed:
    """What the server answers for one path. Change the fields while the test runs."""

    items: list[Item] = field(default_factory=list)
    status: int = 200
    validators: bool = True  # send ETag/Last-Modified and answer 304 when they match
    volatile: bool = False  # a new <lastBuildDate> on every request: the body is never the same twice
    body: bytes | None = None  # served as is (malformed feeds, HTML pages)
    delay: float = 0.0  # seconds before answering (a server that never answers: longer than the timeouts)
    content_type: str = "application/rss+xml"


@dataclass(frozen=True)
class Request:
    path: str
    at: float  # time.monotonic()
    status: int
    user_agent: str
    if_none_match: str | None
    if_modified_since: str | None


def render_rss(feed: Feed, note: str = "") -> bytes:
    items = "".join(
        f"<item><title>{escape(item.title)}</title><link>{item.link}</link><guid>{item.guid}</guid>"
        f"<description>{escape(item.text)}</description>"
        "<pubDate>Wed, 12 Jan 2022 09:00:00 GMT</pubDate></item>"
        for item in feed.items
    )
    build = f"<lastBuildDate>{escape(note)}</lastBuildDate>" if note else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Test feed</title>'
        f"<link>https://news.example.org/</link>{build}{items}</channel></rss>"
    ).encode()


class FeedServer:
    def __init__(self) -> None:
        self.feeds: dict[str, Feed] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._counter = 0
        self.httpd, self.thread = loopback_get_server(self._answer)

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path, arrived = handler.path, time.monotonic()
        with self._lock:
            feed = self.feeds.get(path)
            self._counter += 1
            note = str(self._counter)
        headers: dict[str, str] = {}
        if feed is None:
            status, body = 404, b"not found"
        elif feed.status != 200:
            status, body = feed.status, b"error"
        elif feed.body is not None:
            status, body = 200, feed.body
        else:
            status, body = 200, render_rss(feed, note if feed.volatile else "")
            if feed.validators:
                digest = hashlib.sha256(body).hexdigest()[:16]
                headers["ETag"] = f'"{digest}"'
                headers["Last-Modified"] = formatdate(1_641_978_000 + int(digest[:6], 16) % 100_000, usegmt=True)
                if handler.headers.get("If-None-Match") == headers["ETag"]:
                    status, body = 304, b""
        with self._lock:  # recorded on arrival: a hanging answer is visible while it hangs
            self.requests.append(
                Request(
                    path,
                    arrived,
                    status,
                    handler.headers.get("User-Agent", ""),
                    handler.headers.get("If-None-Match"),
                    handler.headers.get("If-Modified-Since"),
                )
            )
        if feed is not None and feed.delay:
            time.sleep(feed.delay)
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Type", feed.content_type if feed else "text/plain")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the collector gave up waiting (a hanging feed): nothing to answer

    def requests_for(self, path: str, since: float = 0.0) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path and r.at >= since]


def write_feeds_file(path: Path, server: FeedServer, paths: list[str], interval: int = 1) -> Path:
    entries = [{"url": server.url(p), "name": f"feed {p}", "interval": interval, "language": "en"} for p in paths]
    path.write_text(yaml.safe_dump(entries))
    return path


def collector_env(prefix: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "NEWSWATCH_TOPIC_PREFIX": prefix,
            "NEWSWATCH_ALLOW_PRIVATE_ADDRESSES": "true",
            "NEWSWATCH_LOG_LEVEL": "INFO",
            "NEWSWATCH_COLLECTOR_METRICS_PORT": "0",
        }
    )
    env.update(extra)
    return env


_STARTED: list[Replica] = []


def kill_leftover_replicas() -> None:
    """Kill the replicas a failed test left running (call from fixture teardown)."""
    while _STARTED:
        replica = _STARTED.pop()
        if replica.process.poll() is None:
            replica.process.kill()
            replica.process.wait(10)


class Replica:
    """One `newswatch collect` subprocess; its stderr (JSON log lines) goes to a file."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, feeds_file: Path | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        env = {**env, "NEWSWATCH_COLLECTOR_METRICS_PORT": str(self.port), "NEWSWATCH_COLLECTOR_INSTANCE_ID": name}
        env["NEWSWATCH_COLLECTOR_USER_AGENT"] = f"newswatch-test/{name}"  # tells the server who asked
        command = [sys.executable, "-m", "newswatch.cli", "collect"]
        if feeds_file is not None:
            command += ["--feeds", str(feeds_file)]
        self._log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(command, env=env, cwd=REPO, stdout=self._log_file, stderr=subprocess.STDOUT)
        _STARTED.append(self)

    def alive(self) -> bool:
        """True while the process runs; fails the test with its log's tail once it has exited."""
        code = self.process.poll()
        assert code is None, f"replica {self.name} exited with code {code}:\n{self.tail()}"
        return True

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())  # type: ignore[no-any-return]
        except OSError:
            return None

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
            return response.read().decode()  # type: ignore[no-any-return]

    def metric(self, name: str) -> float:
        """Sum of a metric's samples whose name and labels start with ``name``."""
        return sum(float(line.rsplit(" ", 1)[1]) for line in self.metrics().splitlines() if line.startswith(name))

    def stop(self, timeout: float = 40.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._log_file.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._log_file.close()

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"event": raw})
        return lines

    def tail(self, count: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-count:])


def prefixed_settings(prefix: str) -> Settings:
    return Settings.load({**os.environ, "NEWSWATCH_TOPIC_PREFIX": prefix})


def raw_articles(settings: Settings) -> list[Article]:
    """Every committed record of the raw topic, in offset order per partition."""
    from collectors.kafka_io import OffsetsProbe

    topic = CollectorTopics.from_settings(settings).raw
    probe = OffsetsProbe(settings, client_id="test-raw-reader")
    try:
        partitions = probe.partitions_of(topic)
    finally:
        probe.close()
    records: list[Article] = []
    read_to_end(settings, partitions, lambda record: records.append(decode_article(record.value or b"")))
    return records


def statuses(settings: Settings) -> dict[str, dict[str, Any]]:
    topic = CollectorTopics.from_settings(settings).status
    return {key: json.loads(record.value or b"{}") for key, record in read_latest(settings, topic).items()}


def delete_topics(settings: Settings) -> None:
    from kafka import KafkaAdminClient

    from newswatch.clients import kafka_python_config

    admin = KafkaAdminClient(**kafka_python_config(settings))
    try:
        mine = [name for name in admin.list_topics() if name.startswith(settings.topic_prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()
