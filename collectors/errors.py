"""The typed failure of one feed poll: what went wrong, in words an operator can act on.

Every failure at the network, file or parse boundary becomes a ``FetchFailed`` value; nothing
raises into the caller's polling loop. ``kind`` is a small closed set, suitable as a metric label.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from collectors.schedule import FailureClass


class ErrorKind(StrEnum):
    # network / HTTP
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"  # refused, unreachable, TLS handshake failed
    NETWORK_ERROR = "network_error"  # the connection broke after it was made
    DNS_ERROR = "dns_error"
    PROTOCOL_ERROR = "protocol_error"
    DECODE_ERROR = "decode_error"  # bad gzip/deflate/brotli body
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    REDIRECT_LOOP = "redirect_loop"
    BAD_REDIRECT = "bad_redirect"  # 3xx without a usable Location
    HTTP_STATUS = "http_status"
    REFUSED_PRIVATE_ADDRESS = "refused_private_address"
    REFUSED_SCHEME = "refused_scheme"  # e.g. file:// when files are not allowed, or a redirect to ftp://
    INVALID_URL = "invalid_url"
    FILE_ERROR = "file_error"
    # content
    EMPTY_BODY = "empty_body"
    NOT_A_FEED = "not_a_feed"  # e.g. an HTML page
    PARSE_ERROR = "parse_error"  # malformed beyond recovery: no usable entries
    REFUSED_ENTITIES = "refused_entities"  # XML entity declarations (expansion bombs)
    NO_USABLE_ENTRIES = "no_usable_entries"  # entries present, every one rejected
    # a bug on our side, contained so that one feed cannot stop the others
    INTERNAL_ERROR = "internal_error"


# Failures that will not go away by retrying soon; the scheduler backs these off to the cap at once.
_PERMANENT_STATUS = frozenset({410})
_PERMANENT_KINDS = frozenset({ErrorKind.REFUSED_PRIVATE_ADDRESS, ErrorKind.REFUSED_SCHEME, ErrorKind.INVALID_URL})
# Failures of the moment (a server restarting, a network blip, an overloaded host): retried within
# seconds rather than an interval later. A missing name (DNS) is included: resolvers time out too.
_TRANSIENT_KINDS = frozenset(
    {
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECT_ERROR,
        ErrorKind.NETWORK_ERROR,
        ErrorKind.DNS_ERROR,
        ErrorKind.PROTOCOL_ERROR,
    }
)
_TRANSIENT_STATUS = frozenset({408, 429})  # and every 5xx


@dataclass(frozen=True, slots=True)
class FetchFailed:
    kind: ErrorKind
    detail: str
    url: str = ""
    status_code: int | None = None
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After header

    @property
    def permanent(self) -> bool:
        return self.kind in _PERMANENT_KINDS or (
            self.kind is ErrorKind.HTTP_STATUS and self.status_code in _PERMANENT_STATUS
        )

    @property
    def transient(self) -> bool:
        """Likely to pass within seconds: a network failure, a 5xx, 429 Too Many Requests or 408."""
        if self.kind is ErrorKind.HTTP_STATUS and self.status_code is not None:
            return self.status_code >= 500 or self.status_code in _TRANSIENT_STATUS
        return self.kind in _TRANSIENT_KINDS

    @property
    def failure_class(self) -> FailureClass:
        """How the scheduler retries it: soon, at the interval, or only at the backoff cap."""
        if self.permanent:
            return FailureClass.PERMANENT
        return FailureClass.TRANSIENT if self.transient else FailureClass.PERSISTENT

    def describe(self) -> str:
        """One log line: kind, HTTP code when there is one, URL and detail."""
        code = f" {self.status_code}" if self.status_code is not None else ""
        where = f" {self.url}" if self.url else ""
        return f"{self.kind}{code}{where}: {self.detail}"
