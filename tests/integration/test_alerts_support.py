"""Shared pieces of the alert tests and the latency bench: a real webhook receiver and SMTP server on local
sockets, an article index with the real mapping on the real Elasticsearch, and the alerter as a process.

(Named test_alerts_* so it sits with the alert tests; it holds no tests itself.)
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from elasticsearch import Elasticsearch

from indexers.document import ClusterCapabilities, mappings, to_document
from newswatch.schema import Source
from newswatch.stack.process import free_port
from tests.factories import tagged
from tests.integration.waiting import poll_until

ROOT = Path(__file__).resolve().parents[2]


# --- webhook receiver ---------------------------------------------------------------------------
@dataclass
class Received:
    at: float  # time.time() on receipt
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1; answers ``fail_first`` requests with 503, then 200.

    ``hold_first`` requests are recorded as received at once but answered only after ``hold_seconds``,
    so a sender killed meanwhile dies in the middle of its send.
    """

    fail_first: int = 0
    path: str = "/hooks/T000/B000/sEcReTpAtH"
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    hold_first: int = 0
    hold_seconds: float = 0.0

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append(Received(time.time(), dict(self.headers), json.loads(body)))
                if len(receiver.received) <= receiver.hold_first:
                    time.sleep(receiver.hold_seconds)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    self.wfile.flush()
                except OSError:  # the sender is gone (killed while its request was held)
                    return

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- SMTP server ----------------------------------------------------------------------------------
class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, optionally requiring a login."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                sink.messages.append(message)  # type: ignore[arg-type]
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
                username,
                password,
            )
            if ok:
                sink.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd itself answers 535

        options: dict[str, Any] = {}
        if username is not None:
            options = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


# --- the article index ----------------------------------------------------------------------------
class ArticleIndex:
    """A test index with the real `news` mapping; articles built by the real document function."""

    def __init__(self, es: Elasticsearch, name: str) -> None:
        self.es = es
        self.name = name
        self.count = 0
        caps = ClusterCapabilities(language_analyzers=False, ilm=False)
        es.indices.create(
            index=name,
            mappings=mappings(caps),
            settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
        )

    def add(
        self,
        published: datetime,
        *,
        tag: str = "troop-buildup",
        places: tuple[str, ...] = ("Ukraine",),
        source: str = "Wire A",
        indexed: datetime | None = None,
        refresh: bool = True,
        title: str | None = None,
    ) -> str:
        self.count += 1
        n = self.count
        article = tagged(
            n,
            id=f"{self.name}-{n}",
            url=f"https://news.example/{self.name}/{n}",
            title=title or f"Troops gather near the border, report {n}",
            source=Source(name=source, site=f"{source.lower().replace(' ', '-')}.example"),
            published=published,
            fetched=published,
            processed=published,
            tags=(tag,),
            scores={tag: 3.0},
            tag_evidence={},
            places=places,
        )
        document = to_document(article, indexed or datetime.now(UTC))
        self.es.index(index=self.name, id=article.id, document=document)
        if refresh:  # an explicit refresh is immediate; tests need not wait for the 1 s refresh interval
            self.es.indices.refresh(index=self.name)
        return article.id

    def burst(self, n: int, at: datetime, **kwargs: Any) -> list[str]:
        """``n`` articles from ``n`` different sources, 100 ms apart, ending at ``at``."""
        refresh = kwargs.pop("refresh", True)
        ids = [
            self.add(
                at - timedelta(milliseconds=100 * (n - 1 - i)), source=f"Wire {chr(65 + i)}", refresh=False, **kwargs
            )
            for i in range(n)
        ]
        if refresh:
            self.es.indices.refresh(index=self.name)
        return ids


def delete_indices(es: Elasticsearch, *names: str) -> None:
    for name in names:
        es.options(ignore_status=404).indices.delete(index=name)


def write_rules(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- the alerter as a process -----------------------------------------------------------------------
@dataclass
class AlerterProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def alerter_env(
    source: str, alerts_index: str, webhook: WebhookReceiver | None, smtp: SmtpSink | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_ALERTS_")}
    env.update(
        {
            "NEWSWATCH_ALERTS_SOURCE": source,
            "NEWSWATCH_ALERTS_INDEX": alerts_index,
            "NEWSWATCH_ALERTS_DELIVERY_BACKOFF": "0.2",
            "NEWSWATCH_LOG_JSON": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if webhook is not None:
        env["NEWSWATCH_ALERTS_WEBHOOK_URL"] = webhook.url
        env["NEWSWATCH_ALERTS_WEBHOOK_TOKEN"] = "tok-test-secret"
    if smtp is not None:
        env.update(
            {
                "NEWSWATCH_ALERTS_SMTP_HOST": "127.0.0.1",
                "NEWSWATCH_ALERTS_SMTP_PORT": str(smtp.port),
                "NEWSWATCH_ALERTS_SMTP_SECURITY": "none",
                "NEWSWATCH_ALERTS_EMAIL_TO": "duty@desk.example",
            }
        )
    return env


def start_alerter(
    env: dict[str, str], rules: Path, log_path: Path, *, wait: bool = True, timeout: float = 30
) -> AlerterProcess:
    port = free_port()
    log = open(log_path, "ab")  # noqa: SIM115 (the child owns it)
    process = subprocess.Popen(
        [sys.executable, "-m", "alerts", "alert", "--rules", str(rules)],
        env={**env, "NEWSWATCH_ALERTS_METRICS_PORT": str(port)},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    alerter = AlerterProcess(process, port, log_path)
    if wait and not poll_until(lambda: alerter.healthy() or process.poll() is not None, timeout, 0.1):
        raise AssertionError(f"alerter not healthy after {timeout}s:\n{alerter.log()}")
    if wait and process.poll() is not None:
        raise AssertionError(f"alerter exited with {process.returncode}:\n{alerter.log()}")
    return alerter
