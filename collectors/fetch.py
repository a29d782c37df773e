"""Fetch one feed: conditional GET, size cap, checked redirects, typed results. Never raises.

The HTTP client is injected (tests pass one built on ``httpx.MockTransport``), and so are the
clock and the DNS resolver used for the private-address check. Redirects are followed here,
one hop at a time, because each hop must pass the same checks as the first URL: a public feed
must not be able to redirect the collector to 127.0.0.1 or to a file.

Result types:
- ``Fetched``      a new body (its sha256 differs from the cursor's);
- ``NotModified``  the server answered 304 to our If-None-Match / If-Modified-Since;
- ``Unchanged``    200, but the same bytes as last time (servers without validators);
- ``FetchFailed``  see ``collectors.errors.ErrorKind``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import httpx
from pydantic import BaseModel, ConfigDict, Field

from collectors.errors import ErrorKind, FetchFailed
from collectors.netguard import (
    AddressRefused,
    ResolutionFailed,
    Resolver,
    check_host,
    resolve_with_event_loop,
)

if TYPE_CHECKING:
    from newswatch.settings import Settings

Clock = Callable[[], datetime]

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
_READ_CHUNK = 64 * 1024


def _version() -> str:
    try:
        return metadata.version("newswatch")
    except metadata.PackageNotFoundError:
        return "dev"


DEFAULT_USER_AGENT = f"newswatch/{_version()} (news-monitoring feed collector; polite polling, conditional GET)"


def utc_now() -> datetime:
    return datetime.now(UTC)


class FetchSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=10.0, gt=0, description="max silence between two received chunks")
    total_timeout: float = Field(default=30.0, gt=0, description="deadline for the whole fetch, redirects too")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0, description="after content decoding")
    max_redirects: int = Field(default=5, ge=0)
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_addresses: bool = False
    allow_file_urls: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> FetchSettings:
        """The fetch settings of a process: ``NEWSWATCH_ALLOW_PRIVATE_ADDRESSES`` plus explicit overrides."""
        return cls.model_validate({"allow_private_addresses": settings.allow_private_addresses, **overrides})

    @property
    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.read_timeout,
            pool=self.connect_timeout,
        )


def make_http_client(settings: FetchSettings, **kwargs: object) -> httpx.AsyncClient:
    """The production client: no automatic redirects (we check each hop), our timeouts and UA.

    ``limits`` or ``transport`` may be given (the collector passes ``collector_transport``)."""
    kwargs.setdefault("limits", httpx.Limits(max_connections=200, max_keepalive_connections=50))
    return httpx.AsyncClient(
        follow_redirects=False,
        timeout=settings.httpx_timeout,
        headers={"User-Agent": settings.user_agent, "Accept": _ACCEPT},
        **kwargs,  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True)
class FetchCursor:
    """Per-feed HTTP state carried from one poll to the next."""

    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None

    def conditional_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified  # echoed verbatim, as RFC 9110 advises
        return headers


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes
    cursor: FetchCursor
    url: str  # after redirects: the base for relative links
    content_type: str | None
    fetched_at: datetime
    status_code: int = 200
    redirects: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NotModified:
    cursor: FetchCursor
    url: str
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class Unchanged:
    cursor: FetchCursor
    url: str
    fetched_at: datetime


FetchResult = Fetched | NotModified | Unchanged | FetchFailed


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class FeedFetcher:
    """Fetches feeds through one shared client. Safe to use from many tasks at once."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: FetchSettings | None = None,
        *,
        resolve: Resolver = resolve_with_event_loop,
        clock: Clock = utc_now,
    ) -> None:
        self._client = client
        self._settings = settings or FetchSettings()
        self._resolve = resolve
        self._clock = clock

    @property
    def settings(self) -> FetchSettings:
        return self._settings

    async def fetch(self, url: str, cursor: FetchCursor | None = None) -> FetchResult:
        cursor = cursor or FetchCursor()
        started = self._clock()
        settings = self._settings
        try:
            async with asyncio.timeout(settings.total_timeout):
                if urlsplit(url).scheme.lower() == "file":
                    return await self._fetch_file(url, cursor, started)
                return await self._fetch_http(url, cursor, started)
        except httpx.TimeoutException as exc:
            phase = type(exc).__name__.removesuffix("Timeout").lower() or "request"
            limit = settings.connect_timeout if phase in ("connect", "pool") else settings.read_timeout
            return FetchFailed(ErrorKind.TIMEOUT, f"{phase} timed out after {limit:g} s", url=url)
        except TimeoutError:
            detail = f"no complete response within {settings.total_timeout:g} s"
            return FetchFailed(ErrorKind.TIMEOUT, detail, url=url)
        except httpx.DecodingError as exc:
            return FetchFailed(ErrorKind.DECODE_ERROR, f"cannot decode the response body: {exc}", url=url)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return FetchFailed(ErrorKind.INVALID_URL, str(exc) or type(exc).__name__, url=url)
        except httpx.ProtocolError as exc:
            return FetchFailed(ErrorKind.PROTOCOL_ERROR, str(exc) or type(exc).__name__, url=url)
        except httpx.ConnectError as exc:
            return FetchFailed(ErrorKind.CONNECT_ERROR, str(exc) or type(exc).__name__, url=url)
        except (httpx.TransportError, OSError) as exc:  # connection reset mid-body, proxy errors...
            return FetchFailed(ErrorKind.NETWORK_ERROR, f"{type(exc).__name__}: {exc}", url=url)
        except Exception as exc:  # contain our own bugs: one feed must never stop the loop
            return FetchFailed(ErrorKind.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", url=url)

    async def _check_target(self, url: str, *, is_redirect: bool) -> FetchFailed | None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            what = "a redirect to scheme" if is_redirect else "scheme"
            detail = f"{what} {scheme or '(none)'!r} is not allowed (http and https only)"
            return FetchFailed(ErrorKind.REFUSED_SCHEME, detail, url=url)
        try:
            host, port = parts.hostname, parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            return FetchFailed(ErrorKind.INVALID_URL, str(exc), url=url)
        if not host:
            return FetchFailed(ErrorKind.INVALID_URL, "the URL has no host", url=url)
        if self._settings.allow_private_addresses:
            return None
        try:
            await check_host(host, port, self._resolve, timeout=self._settings.connect_timeout)
        except AddressRefused as exc:
            return FetchFailed(ErrorKind.REFUSED_PRIVATE_ADDRESS, str(exc), url=url)
        except ResolutionFailed as exc:
            return FetchFailed(ErrorKind.DNS_ERROR, str(exc), url=url)
        return None

    async def _fetch_http(self, url: str, cursor: FetchCursor, started: datetime) -> FetchResult:
        settings = self._settings
        headers = {"User-Agent": settings.user_agent, "Accept": _ACCEPT, **cursor.conditional_headers()}
        current, visited = url, [url]
        for _ in range(settings.max_redirects + 1):
            refused = await self._check_target(current, is_redirect=current != url)
            if refused is not None:
                return refused
            request = self._client.build_request("GET", current, headers=headers, timeout=settings.httpx_timeout)
            response = await self._client.send(request, stream=True, follow_redirects=False)
            try:
                status = response.status_code
                if status in _REDIRECT_STATUSES:
                    location = response.headers.get("location", "").strip()
                    if not location:
                        return FetchFailed(
                            ErrorKind.BAD_REDIRECT, f"{status} without a Location header", current, status
                        )
                    target = urljoin(current, location)
                    if target in visited:
                        chain = " -> ".join([*visited[visited.index(target) :], target])
                        return FetchFailed(ErrorKind.REDIRECT_LOOP, f"redirect loop: {chain}", url)
                    visited.append(target)
                    current = target
                    continue
                return await self._final_response(response, current, cursor, started, tuple(visited[1:]))
            finally:
                await response.aclose()
        return FetchFailed(
            ErrorKind.TOO_MANY_REDIRECTS,
            f"more than {settings.max_redirects} redirects: {' -> '.join(visited)}",
            url,
        )

    async def _final_response(
        self,
        response: httpx.Response,
        url: str,
        cursor: FetchCursor,
        started: datetime,
        redirects: tuple[str, ...],
    ) -> FetchResult:
        status = response.status_code
        if status == 304:
            etag = response.headers.get("etag") or cursor.etag
            return NotModified(replace(cursor, etag=etag), url, started)
        if not 200 <= status < 300:
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock())
            reason = response.reason_phrase or "error"
            return FetchFailed(ErrorKind.HTTP_STATUS, f"HTTP {status} {reason}", url, status, retry_after)
        cap = self._settings.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            return FetchFailed(ErrorKind.TOO_LARGE, f"Content-Length {declared} exceeds the {cap}-byte cap", url)
        chunks: list[bytes] = []
        size = 0
        # aiter_bytes yields decoded bytes, so the cap also stops gzip bombs.
        async for chunk in response.aiter_bytes(_READ_CHUNK):
            size += len(chunk)
            if size > cap:
                return FetchFailed(ErrorKind.TOO_LARGE, f"body exceeds the {cap}-byte cap; stopped reading", url)
            chunks.append(chunk)
        body = b"".join(chunks)
        new_cursor = FetchCursor(
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            body_sha256=hashlib.sha256(body).hexdigest(),
        )
        if new_cursor.body_sha256 == cursor.body_sha256:
            return Unchanged(new_cursor, url, started)
        content_type = response.headers.get("content-type")
        return Fetched(body, new_cursor, url, content_type, started, status, redirects)

    async def _fetch_file(self, url: str, cursor: FetchCursor, started: datetime) -> FetchResult:
        if not self._settings.allow_file_urls:
            detail = "file URLs are not allowed in this collector (FetchSettings.allow_file_urls is off)"
            return FetchFailed(ErrorKind.REFUSED_SCHEME, detail, url=url)
        path = Path(url2pathname(unquote(urlsplit(url).path)))
        cap = self._settings.max_body_bytes
        try:
            body, mtime = await asyncio.to_thread(_read_file_capped, path, cap)
        except OSError as exc:
            return FetchFailed(ErrorKind.FILE_ERROR, f"cannot read {path}: {exc.strerror or exc}", url=url)
        if body is None:
            return FetchFailed(ErrorKind.TOO_LARGE, f"{path} exceeds the {cap}-byte cap", url=url)
        digest = hashlib.sha256(body).hexdigest()
        new_cursor = FetchCursor(last_modified=formatdate(mtime, usegmt=True), body_sha256=digest)
        if digest == cursor.body_sha256:
            return Unchanged(new_cursor, url, started)
        return Fetched(body, new_cursor, url, None, started)


def _read_file_capped(path: Path, cap: int) -> tuple[bytes | None, float]:
    with path.open("rb") as handle:
        mtime = os.fstat(handle.fileno()).st_mtime
        body = handle.read(cap + 1)
    return (None if len(body) > cap else body), mtime
