"""FeedFetcher against httpx.MockTransport (and one real local socket): every failure is a typed value."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from collectors.errors import ErrorKind, FetchFailed
from collectors.fetch import (
    DEFAULT_USER_AGENT,
    FeedFetcher,
    FetchCursor,
    Fetched,
    FetchSettings,
    NotModified,
    Unchanged,
    make_http_client,
    parse_retry_after,
)
from collectors.netguard import address_category, parse_ip

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
RSS = (FIXTURES / "rss_basic.xml").read_bytes()
NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
PUBLIC_IP = "93.184.215.14"

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


async def public_resolver(host: str, port: int) -> Sequence[str]:
    return [PUBLIC_IP]


def resolver(mapping: dict[str, list[str]]) -> Callable[[str, int], Awaitable[Sequence[str]]]:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return mapping[host]

    return resolve


@asynccontextmanager
async def fetcher_for(
    handler: Handler,
    *,
    resolve: Callable[[str, int], Awaitable[Sequence[str]]] = public_resolver,
    **settings: object,
) -> AsyncIterator[FeedFetcher]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        yield FeedFetcher(client, FetchSettings(**settings), resolve=resolve, clock=lambda: NOW)  # type: ignore[arg-type]


def failed(result: object, kind: ErrorKind) -> FetchFailed:
    assert isinstance(result, FetchFailed), result
    assert result.kind is kind, result
    return result


async def test_fetches_a_feed_and_records_the_validators() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {
            "ETag": '"v1"',
            "Last-Modified": "Tue, 05 Mar 2024 10:00:00 GMT",
            "Content-Type": "application/rss+xml",
        }
        return httpx.Response(200, content=RSS, headers=headers)

    async with fetcher_for(handler) as fetcher:
        result = await fetcher.fetch("https://news.example/rss")
    assert isinstance(result, Fetched)
    assert result.body == RSS and result.content_type == "application/rss+xml" and result.fetched_at == NOW
    assert result.cursor.etag == '"v1"' and result.cursor.last_modified == "Tue, 05 Mar 2024 10:00:00 GMT"
    assert result.cursor.body_sha256 is not None and len(result.cursor.body_sha256) == 64
    (request,) = seen
    assert request.headers["User-Agent"] == DEFAULT_USER_AGENT and "newswatch/" in DEFAULT_USER_AGENT
    assert "application/rss+xml" in request.headers["Accept"]
    assert "If-None-Match" not in request.headers and "If-Modified-Since" not in request.headers


async def test_conditional_get_sends_validators_and_304_yields_nothing_new() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"'})
        return httpx.Response(
            200, content=RSS, headers={"ETag": '"v1"', "Last-Modified": "Tue, 05 Mar 2024 10:00:00 GMT"}
        )

    async with fetcher_for(handler) as fetcher:
        first = await fetcher.fetch("https://news.example/rss")
        assert isinstance(first, Fetched)
        second = await fetcher.fetch("https://news.example/rss", first.cursor)
    assert isinstance(second, NotModified)
    assert second.cursor == first.cursor
    assert seen[1].headers["If-None-Match"] == '"v1"'
    assert seen[1].headers["If-Modified-Since"] == "Tue, 05 Mar 2024 10:00:00 GMT"


async def test_same_body_without_validators_is_unchanged() -> None:
    async with fetcher_for(lambda request: httpx.Response(200, content=RSS)) as fetcher:
        first = await fetcher.fetch("https://news.example/rss")
        assert isinstance(first, Fetched)
        second = await fetcher.fetch("https://news.example/rss", first.cursor)
    assert isinstance(second, Unchanged) and second.cursor.body_sha256 == first.cursor.body_sha256


async def test_declared_oversized_body_is_refused_without_reading() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(10 * 1024 * 1024)}, content=b"<rss/>")

    async with fetcher_for(handler, max_body_bytes=1024 * 1024) as fetcher:
        failure = failed(await fetcher.fetch("https://big.example/rss"), ErrorKind.TOO_LARGE)
    assert "Content-Length" in failure.detail


async def test_ten_megabyte_stream_is_cut_off_at_the_cap() -> None:
    chunk = b"<item><title>x</title></item>" * 2200  # ~64 KB
    sent = 0

    async def ten_megabytes() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 10 * 1024 * 1024:
            sent += len(chunk)
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=ten_megabytes())  # chunked: no Content-Length to trust

    async with fetcher_for(handler, max_body_bytes=1024 * 1024) as fetcher:
        failure = failed(await fetcher.fetch("https://big.example/rss"), ErrorKind.TOO_LARGE)
    assert "stopped reading" in failure.detail
    assert sent < 2 * 1024 * 1024  # stopped shortly after the cap, not after 10 MB


async def test_default_cap_refuses_a_ten_megabyte_feed() -> None:
    body = b"<rss>" + b" " * (10 * 1024 * 1024) + b"</rss>"
    async with fetcher_for(lambda request: httpx.Response(200, content=body)) as fetcher:
        failed(await fetcher.fetch("https://big.example/rss"), ErrorKind.TOO_LARGE)


async def test_server_that_never_answers_times_out() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, content=RSS)

    async with fetcher_for(handler, total_timeout=0.2) as fetcher:
        started = asyncio.get_running_loop().time()
        failure = failed(await fetcher.fetch("https://slow.example/rss"), ErrorKind.TIMEOUT)
    assert asyncio.get_running_loop().time() - started < 2
    assert "0.2 s" in failure.detail


async def test_real_socket_that_accepts_and_never_answers_times_out() -> None:
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = FetchSettings(read_timeout=0.2, connect_timeout=0.5, allow_private_addresses=True)
    try:
        async with make_http_client(settings) as client:
            result = await FeedFetcher(client, settings).fetch(f"http://127.0.0.1:{port}/rss")
    finally:
        release.set()
        server.close()
        await server.wait_closed()
    failure = failed(result, ErrorKind.TIMEOUT)
    assert failure.detail == "read timed out after 0.2 s"


async def test_redirect_is_followed_and_recorded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "/new"})
        return httpx.Response(200, content=RSS)

    async with fetcher_for(handler) as fetcher:
        result = await fetcher.fetch("https://news.example/old")
    assert isinstance(result, Fetched)
    assert result.url == "https://news.example/new" and result.redirects == ("https://news.example/new",)


async def test_redirect_loop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        target = "/b" if request.url.path == "/a" else "https://loop.example/a"
        return httpx.Response(302, headers={"Location": target})

    async with fetcher_for(handler) as fetcher:
        failure = failed(await fetcher.fetch("https://loop.example/a"), ErrorKind.REDIRECT_LOOP)
    assert failure.detail == "redirect loop: https://loop.example/a -> https://loop.example/b -> https://loop.example/a"


async def test_too_many_redirects() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        hop = int(request.url.path.strip("/") or 0)
        return httpx.Response(307, headers={"Location": f"/{hop + 1}"})

    async with fetcher_for(handler, max_redirects=3) as fetcher:
        failure = failed(await fetcher.fetch("https://chain.example/0"), ErrorKind.TOO_MANY_REDIRECTS)
    assert "more than 3 redirects" in failure.detail


async def test_redirect_without_location() -> None:
    async with fetcher_for(lambda request: httpx.Response(302)) as fetcher:
        failed(await fetcher.fetch("https://odd.example/rss"), ErrorKind.BAD_REDIRECT)


async def test_redirect_to_a_file_is_refused_even_when_files_are_allowed() -> None:
    handler = lambda request: httpx.Response(302, headers={"Location": "file:///etc/passwd"})  # noqa: E731
    async with fetcher_for(handler, allow_file_urls=True) as fetcher:
        failure = failed(await fetcher.fetch("https://evil.example/rss"), ErrorKind.REFUSED_SCHEME)
    assert "redirect" in failure.detail


@pytest.mark.parametrize(("status", "permanent"), [(404, False), (410, True), (500, False), (403, False)])
async def test_http_error_status(status: int, permanent: bool) -> None:
    async with fetcher_for(lambda request: httpx.Response(status, content=b"<html>error</html>")) as fetcher:
        failure = failed(await fetcher.fetch("https://news.example/rss"), ErrorKind.HTTP_STATUS)
    assert failure.status_code == status and failure.permanent is permanent
    assert failure.describe().startswith(f"http_status {status} https://news.example/rss: HTTP {status}")


async def test_retry_after_is_passed_on() -> None:
    handler = lambda request: httpx.Response(429, headers={"Retry-After": "120"})  # noqa: E731
    async with fetcher_for(handler) as fetcher:
        failure = failed(await fetcher.fetch("https://busy.example/rss"), ErrorKind.HTTP_STATUS)
    assert failure.status_code == 429 and failure.retry_after == 120.0


def test_parse_retry_after() -> None:
    assert parse_retry_after("30", NOW) == 30.0
    assert parse_retry_after("Tue, 05 Mar 2024 12:02:00 GMT", NOW) == 120.0
    assert parse_retry_after("Tue, 05 Mar 2024 11:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("https://intranet.example/rss", ["10.1.2.3"]),
        ("https://router.example/rss", ["192.168.1.1"]),
        ("https://metadata.example/latest", ["169.254.169.254"]),
        ("https://localhost.example/rss", ["127.0.0.1"]),
        ("https://v6.example/rss", ["::1"]),
        ("https://mapped.example/rss", ["::ffff:127.0.0.1"]),
        ("https://half.example/rss", [PUBLIC_IP, "10.0.0.8"]),  # any private address refuses the host
        ("https://127.0.0.1/rss", []),
        ("https://[::1]:8443/rss", []),
        ("https://0.0.0.0/rss", []),
        ("https://100.64.0.1/rss", []),
    ],
)
async def test_private_addresses_are_refused_before_any_request(url: str, addresses: list[str]) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, content=RSS)

    host = httpx.URL(url).host
    async with fetcher_for(handler, resolve=resolver({host: addresses})) as fetcher:
        failure = failed(await fetcher.fetch(url), ErrorKind.REFUSED_PRIVATE_ADDRESS)
    assert calls == [] and "NEWSWATCH_ALLOW_PRIVATE_ADDRESSES" in failure.detail


async def test_redirect_to_a_private_address_is_refused() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    async with fetcher_for(handler, resolve=resolver({"news.example": [PUBLIC_IP]})) as fetcher:
        failed(await fetcher.fetch("https://news.example/rss"), ErrorKind.REFUSED_PRIVATE_ADDRESS)
    assert calls == ["https://news.example/rss"]


async def test_private_addresses_are_allowed_when_the_flag_is_set() -> None:
    async def must_not_resolve(host: str, port: int) -> Sequence[str]:
        raise AssertionError("no DNS check when private addresses are allowed")

    handler = lambda request: httpx.Response(200, content=RSS)  # noqa: E731
    async with fetcher_for(handler, resolve=must_not_resolve, allow_private_addresses=True) as fetcher:
        assert isinstance(await fetcher.fetch("http://127.0.0.1:8000/rss"), Fetched)


async def test_unresolvable_host_is_a_dns_error() -> None:
    async with fetcher_for(lambda request: httpx.Response(200), resolve=resolver({})) as fetcher:
        failure = failed(await fetcher.fetch("https://nowhere.example/rss"), ErrorKind.DNS_ERROR)
    assert "nowhere.example" in failure.detail


async def test_slow_dns_is_bounded_by_the_connect_timeout() -> None:
    async def slow(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(30)
        return [PUBLIC_IP]

    async with fetcher_for(lambda request: httpx.Response(200), resolve=slow, connect_timeout=0.1) as fetcher:
        failed(await fetcher.fetch("https://slowdns.example/rss"), ErrorKind.DNS_ERROR)


@pytest.mark.parametrize(
    ("exception", "kind"),
    [
        (httpx.ConnectError("connection refused"), ErrorKind.CONNECT_ERROR),
        (httpx.ConnectTimeout("connect timeout"), ErrorKind.TIMEOUT),
        (httpx.ReadError("connection reset by peer"), ErrorKind.NETWORK_ERROR),
        (httpx.RemoteProtocolError("illegal status line"), ErrorKind.PROTOCOL_ERROR),
        (httpx.DecodingError("bad gzip"), ErrorKind.DECODE_ERROR),
        (ValueError("a bug"), ErrorKind.INTERNAL_ERROR),
    ],
)
async def test_client_exceptions_are_translated(exception: Exception, kind: ErrorKind) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    async with fetcher_for(handler) as fetcher:
        failed(await fetcher.fetch("https://news.example/rss"), kind)


@pytest.mark.parametrize("url", ["ftp://news.example/rss", "https:///rss", "gopher://x"])
async def test_unsupported_urls(url: str) -> None:
    async with fetcher_for(lambda request: httpx.Response(200)) as fetcher:
        result = await fetcher.fetch(url)
    assert isinstance(result, FetchFailed) and result.kind in (
        ErrorKind.REFUSED_SCHEME,
        ErrorKind.INVALID_URL,
    )


async def test_file_urls_need_permission(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS)
    async with fetcher_for(lambda request: httpx.Response(500)) as fetcher:
        failed(await fetcher.fetch(path.as_uri()), ErrorKind.REFUSED_SCHEME)
    async with fetcher_for(lambda request: httpx.Response(500), allow_file_urls=True) as fetcher:
        first = await fetcher.fetch(path.as_uri())
        assert isinstance(first, Fetched) and first.body == RSS and first.cursor.last_modified
        assert isinstance(await fetcher.fetch(path.as_uri(), first.cursor), Unchanged)
        failed(await fetcher.fetch((tmp_path / "absent.xml").as_uri()), ErrorKind.FILE_ERROR)
    async with fetcher_for(lambda request: httpx.Response(500), allow_file_urls=True, max_body_bytes=100) as fetcher:
        failed(await fetcher.fetch(path.as_uri()), ErrorKind.TOO_LARGE)


def test_address_categories() -> None:
    def category(text: str) -> str | None:
        address = parse_ip(text)
        assert address is not None
        return address_category(address)

    assert category("127.0.0.1") == "loopback" and category("::1") == "loopback"
    assert category("10.0.0.1") == "private" and category("fd00::1") == "private"
    assert category("169.254.169.254") == "link-local" and category("fe80::1") == "link-local"
    assert category("::ffff:192.168.0.1") == "private"
    assert category("100.64.0.1") == "non-public" and category("224.0.0.1") == "multicast"
    assert category(PUBLIC_IP) is None and category("2606:4700::1111") is None


def test_fetch_settings_follow_the_process_settings() -> None:
    from newswatch.settings import Settings

    settings = Settings.load({"NEWSWATCH_ALLOW_PRIVATE_ADDRESSES": "true"})
    assert FetchSettings.from_settings(settings).allow_private_addresses is True
    assert FetchSettings.from_settings(Settings.load({})).allow_private_addresses is False
    assert FetchSettings.from_settings(settings, allow_file_urls=True).allow_file_urls is True


def test_cursor_conditional_headers() -> None:
    assert FetchCursor().conditional_headers() == {}
    cursor = FetchCursor(etag='W/"x"', last_modified="Tue, 05 Mar 2024 10:00:00 GMT")
    assert cursor.conditional_headers() == {
        "If-None-Match": 'W/"x"',
        "If-Modified-Since": "Tue, 05 Mar 2024 10:00:00 GMT",
    }
