"""The production transport (aiohttp's pool under httpx) against real local sockets."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from collectors.errors import ErrorKind, FetchFailed
from collectors.fetch import FeedFetcher, Fetched, FetchSettings, make_http_client
from collectors.http_transport import GuardedResolver, collector_transport

RSS = (Path(__file__).resolve().parents[1] / "fixtures" / "feeds" / "rss_basic.xml").read_bytes()
ConnectionHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def local_server(handle: ConnectionHandler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


@asynccontextmanager
async def production_fetcher(settings: FetchSettings) -> AsyncIterator[FeedFetcher]:
    transport = collector_transport(connections=4, allow_private_addresses=settings.allow_private_addresses)
    async with make_http_client(settings, transport=transport) as client:
        yield FeedFetcher(client, settings)


async def fetch_once(settings: FetchSettings, url: str) -> object:
    async with production_fetcher(settings) as feed_fetcher:
        return await feed_fetcher.fetch(url)


async def test_fetches_a_gzipped_feed_and_reuses_the_connection() -> None:
    connections = 0
    body = gzip.compress(RSS)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        for _ in range(2):
            await read_request(reader)
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Encoding: gzip\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        writer.close()

    settings = FetchSettings(allow_private_addresses=True)
    async with local_server(serve) as port:
        async with production_fetcher(settings) as feed_fetcher:
            first = await feed_fetcher.fetch(f"http://127.0.0.1:{port}/a.xml")
            second = await feed_fetcher.fetch(f"http://127.0.0.1:{port}/b.xml")
    assert isinstance(first, Fetched) and first.body == RSS  # decompressed once, by httpx
    assert isinstance(second, Fetched) and second.body == RSS
    assert connections == 1


async def test_a_server_closing_mid_response_is_a_network_failure_not_a_timeout() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<rss>")
        await writer.drain()
        writer.close()

    async with local_server(hang_up) as port:
        result = await fetch_once(FetchSettings(allow_private_addresses=True), f"http://127.0.0.1:{port}/rss")
    assert isinstance(result, FetchFailed)
    assert result.kind in (ErrorKind.PROTOCOL_ERROR, ErrorKind.NETWORK_ERROR), result


async def test_a_server_closing_before_answering_is_not_a_timeout() -> None:
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async with local_server(close_at_once) as port:
        result = await fetch_once(FetchSettings(allow_private_addresses=True), f"http://127.0.0.1:{port}/rss")
    assert isinstance(result, FetchFailed)
    assert result.kind is not ErrorKind.TIMEOUT, result


async def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the fetch: nothing listens there
    result = await fetch_once(FetchSettings(allow_private_addresses=True), f"http://127.0.0.1:{port}/rss")
    assert isinstance(result, FetchFailed) and result.kind is ErrorKind.CONNECT_ERROR, result


class FixedResolver(AbstractResolver):
    """Answers every name with one address, like a rebinding DNS server's second answer."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=self.address, port=port, family=family, proto=0, flags=0)]

    async def close(self) -> None:
        pass


async def test_guarded_resolver_refuses_a_private_answer_at_connect_time() -> None:
    with pytest.raises(OSError, match=r"resolves to 10\.1\.2\.3 \(private\) at connect time"):
        await GuardedResolver(FixedResolver("10.1.2.3")).resolve("feeds.example", 443)


async def test_guarded_resolver_passes_a_public_answer() -> None:
    results = await GuardedResolver(FixedResolver("93.184.215.14")).resolve("feeds.example", 443)
    assert [r["host"] for r in results] == ["93.184.215.14"]


async def test_without_the_override_a_name_resolving_to_loopback_is_never_connected() -> None:
    """The fetcher's own check is bypassed here (a resolver that says "public"), as a rebinding DNS
    server would bypass it: the transport still refuses to connect."""
    accepted = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writer.close()

    async def says_public(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    settings = FetchSettings(allow_private_addresses=False)
    async with local_server(count) as port:
        client = make_http_client(settings, transport=collector_transport(connections=2))
        try:
            result = await FeedFetcher(client, settings, resolve=says_public).fetch(f"http://localhost:{port}/rss")
        finally:
            await client.aclose()
    assert isinstance(result, FetchFailed) and result.kind is ErrorKind.CONNECT_ERROR, result
    assert "at connect time; refused" in result.detail
    assert accepted == 0


async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    settings = FetchSettings(read_timeout=0.2, connect_timeout=0.5, allow_private_addresses=True)
    async with local_server(silent) as port:
        try:
            result = await fetch_once(settings, f"http://127.0.0.1:{port}/rss")
        finally:
            release.set()
    assert isinstance(result, FetchFailed) and result.kind is ErrorKind.TIMEOUT, result
    assert result.detail == "read timed out after 0.2 s"
