"""A threaded HTTP server on a free loopback port whose GET requests go to one callback (test feed servers)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def loopback_get_server(
    answer: Callable[[BaseHTTPRequestHandler], None],
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """The server and its (not yet started) serving thread; ``answer`` handles each GET."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            answer(self)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # keep pytest's output to the tests' own messages

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    return httpd, threading.Thread(target=httpd.serve_forever, daemon=True)
