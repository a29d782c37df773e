"""Structured logs and the `/health` + `/metrics` endpoint every service exposes."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

HealthCheck = Callable[[], tuple[bool, dict[str, object]]]


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> structlog.stdlib.BoundLogger:
    """JSON lines on stderr (one object per event), with the service name on every line."""
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    # One line per HTTP request to Elasticsearch would drown the service's own events.
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for noisy in ("elastic_transport", "kafka"):  # per-request and per-connection chatter
        logging.getLogger(noisy).setLevel(quiet)
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    return structlog.get_logger().bind(service=service)  # type: ignore[no-any-return]


class ServiceEndpoint:
    """A small threaded HTTP server: `/health` (200 or 503 with JSON details) and Prometheus `/metrics`."""

    def __init__(self, host: str, port: int, health: HealthCheck, registry: CollectorRegistry = REGISTRY) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path.startswith("/metrics"):
                    body, status, ctype = generate_latest(registry), 200, CONTENT_TYPE_LATEST
                elif self.path.startswith("/health"):
                    ok, details = endpoint.health()
                    body = json.dumps({"ok": ok, **details}, default=str).encode()
                    status, ctype = (200 if ok else 503), "application/json"
                else:
                    body, status, ctype = b"not found: try /health or /metrics\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return  # scrapes every few seconds would drown the service's own log

        self.health = health
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="service-endpoint", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> ServiceEndpoint:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
