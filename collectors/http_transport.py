"""The collector's production HTTP transport: httpx's API over aiohttp's connection pool.

Why not httpx's own pool: httpcore scans every pooled connection (a readability syscall per idle
one) each time a request starts or ends, which cost a fifth of a replica's CPU when it polled
hundreds of feeds a second. aiohttp's connector keeps idle connections per host and costs nothing
per request. The fetcher keeps speaking httpx (tests inject ``httpx.MockTransport``); only the
production client gets this transport (httpx-aiohttp, by an httpx maintainer).

Two things are added on top of httpx-aiohttp:

- **Connect-time address check.** The fetcher checks where a host resolves before each hop, but the
  pool resolves again to connect: a DNS server answering differently the second time (rebinding)
  slipped between the two. The connector's resolver refuses non-public addresses itself, so the
  connection goes only to an address that was checked.
- **Truthful errors.** httpx-aiohttp maps every ``aiohttp.ClientConnectionError`` it does not know to
  ``httpx.ConnectTimeout``, so a server that closes the connection mid-response would be reported as
  a connect timeout, and a real connect timeout as a bare ``TimeoutException``. Each gets its
  precise httpx type again, so the fetcher's error kinds and messages stay the same.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from collectors.netguard import address_category, parse_ip


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing any host that resolves to a non-public address.

    Raises OSError (aiohttp reports it as a failed lookup of that host, with this reason), so the
    request fails before any connection is opened."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = parse_ip(result["host"])
            category = "unparseable" if address is None else address_category(address)
            if category is not None:
                detail = f"{host} resolves to {result['host']} ({category}) at connect time; refused"
                raise OSError(errno.EPERM, detail)
        return results

    async def close(self) -> None:
        await self._inner.close()


@contextmanager
def _truthful_errors() -> Iterator[None]:
    try:
        yield
    except httpx.ConnectTimeout as exc:  # what httpx-aiohttp makes of any connection error it does not know
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientConnectorError):  # no connection was made (DNS, refused, ...)
            raise httpx.ConnectError(str(cause)) from cause
        if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, aiohttp.ServerTimeoutError):
            raise httpx.RemoteProtocolError(f"{type(cause).__name__}: {cause}") from cause
        raise
    except httpx.TimeoutException as exc:  # a connect timeout arrives as the generic base class
        if type(exc) is httpx.TimeoutException and isinstance(exc.__cause__, aiohttp.ConnectionTimeoutError):
            raise httpx.ConnectTimeout(str(exc)) from exc.__cause__
        raise


class _TruthfulStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _truthful_errors():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _truthful_errors():
            await self._inner.aclose()


class _CollectorTransport(AiohttpTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _truthful_errors():
            response = await super().handle_async_request(request)
        response.stream = _TruthfulStream(response.stream)  # type: ignore[arg-type]
        return response


def collector_transport(
    *, connections: int, keepalive_seconds: float = 5.0, allow_private_addresses: bool = False
) -> httpx.AsyncBaseTransport:
    """A pool of at most ``connections`` connections; idle ones are kept ``keepalive_seconds``.

    The session is created on first use, inside the running event loop, as aiohttp requires."""

    def session() -> aiohttp.ClientSession:
        resolver: AbstractResolver = aiohttp.ThreadedResolver() if allow_private_addresses else GuardedResolver()
        connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=keepalive_seconds, resolver=resolver)
        # trust_env=False: with it, aiohttp reads ~/.netrc and the proxy variables on every request
        # (a tenth of a poll's CPU); settings are read once at start, and no proxy is configured.
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    return _CollectorTransport(client=session)
