"""Refuse feed URLs and redirects that point into private networks (SSRF protection).

A feeds file or a hostile redirect could otherwise make a collector fetch the cloud metadata
service (169.254.169.254), an admin page on localhost, or anything on the internal network, and
publish what it returns as "news". Every address a host name resolves to is checked, since the
HTTP client may connect to any of them.

The check resolves the name, then the HTTP client resolves it again to connect; a DNS server that
answers differently the second time (DNS rebinding) would slip between the two. The collector's
production transport therefore checks again in its connector's resolver, whose answer is the
address it connects to (``collectors.http_transport.GuardedResolver``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

# host, port -> the IP addresses (as strings) the host resolves to. Injected in tests.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The host resolves to an address outside the public internet."""


class ResolutionFailed(Exception):
    """The host name could not be resolved."""


async def resolve_with_event_loop(host: str, port: int) -> list[str]:
    """Resolve through the running event loop's getaddrinfo (a thread pool, so it never blocks)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def address_category(address: IPAddress) -> str | None:
    """Why an address is not public ("loopback", "private", ...), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if not address.is_global:  # shared (CGNAT), reserved, documentation ranges...
        return "non-public"
    return None


def parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None


async def check_host(host: str, port: int, resolve: Resolver, *, timeout: float) -> None:
    """Raise AddressRefused if ``host`` is or resolves to any non-public address.

    Raises ResolutionFailed when the name does not resolve (or not within ``timeout`` seconds).
    """
    literal = parse_ip(host)
    if literal is not None:
        addresses: Sequence[str] = [str(literal)]
    else:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve(host, port)
        except TimeoutError:
            raise ResolutionFailed(f"resolving {host} took longer than {timeout:g} s") from None
        except OSError as exc:  # socket.gaierror and friends
            raise ResolutionFailed(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise ResolutionFailed(f"{host} resolves to no address")
    for text in addresses:
        address = parse_ip(text)
        category = "unparseable" if address is None else address_category(address)
        if category is not None:
            raise AddressRefused(
                f"{host} resolves to {text} ({category}); "
                "set NEWSWATCH_ALLOW_PRIVATE_ADDRESSES=true only for local tests and demos"
            )
