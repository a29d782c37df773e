"""Canonical article URLs and the article ids derived from them.

Id rules (documented in the README's schema section too):

1. An entry with a usable link (absolute http/https after resolving against the feed):
   ``id = sha256("url\\n" + canonical_url)[:32]``. The same story reached through two feeds, or
   with different tracking parameters, gets the same id.
2. No usable link, but a GUID: ``id = sha256("guid\\n" + feed_id + "\\n" + guid)[:32]``. GUIDs are
   only unique within a feed in practice (many feeds use bare numbers), hence the feed scope.
3. Neither: ``id = sha256("entry\\n" + feed_id + "\\n" + title + "\\n" + published_raw)[:32]``,
   using the raw date string as the feed wrote it so that re-parsing cannot change the id.

The prefixes keep the three id spaces apart (a GUID "x" can never collide with a URL "x").
Ids are 32 hex digits (128 bits): collision-free at any plausible corpus size, short as a key.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

# Parameters that identify a campaign or a click, never the document. Compared case-insensitively.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "_ga",
        "_gl",
        "ref",
        "ref_src",
        "ref_url",
        "cmp",
        "cmpid",
        "ocid",
        "wt.mc_id",
        "at_medium",
        "at_campaign",
        "xtor",
    }
)
TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


class InvalidUrl(ValueError):
    """Not an absolute http(s) URL that an article could live at."""


def is_tracking_param(name: str) -> bool:
    lowered = unquote(name).lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _canonical_query(query: str) -> str:
    # Work on the raw `name=value` pieces: decoding and re-encoding would turn `?a` into `?a=` or
    # `%20` into `+`, which some servers treat as a different document.
    pieces = [piece for piece in query.split("&") if piece and not is_tracking_param(piece.split("=", 1)[0])]
    return "&".join(sorted(pieces))


def canonical_url(url: str, base: str | None = None) -> str:
    """The canonical form of an article URL.

    Lower-cases scheme and host, drops the default port, user info, the fragment, tracking
    parameters (``utm_*``, ``fbclid``, ``gclid``, ``mc_cid``, ``mc_eid``, ``ref``, ... see
    TRACKING_PARAMS) and empty parameters; sorts the remaining parameters; upper-cases
    percent-escapes; an empty path becomes ``/``. Path case and encoding are otherwise kept:
    servers may treat them as significant. Raises InvalidUrl for anything but absolute http(s).
    """
    text = url.strip()
    if base and not _HAS_SCHEME.match(text):  # almost every link is absolute: skip urljoin's parsing
        text = urljoin(base, text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"{url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidUrl(f"{url!r}: scheme {parts.scheme or '(none)'!r} is not http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host or any(c.isspace() for c in host):
        raise InvalidUrl(f"{url!r}: no valid host")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = _PERCENT_ESCAPE.sub(lambda m: m.group(0).upper(), parts.path) or "/"
    query = _PERCENT_ESCAPE.sub(lambda m: m.group(0).upper(), _canonical_query(parts.query))
    return urlunsplit((scheme, netloc, path, query, ""))


def try_canonical_url(url: str | None, base: str | None = None) -> str | None:
    if not url:
        return None
    try:
        return canonical_url(url, base)
    except InvalidUrl:
        return None


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def article_id_from_url(canonical: str) -> str:
    return _short_hash("url", canonical)


def article_id_from_guid(feed_id: str, guid: str) -> str:
    return _short_hash("guid", feed_id, guid.strip())


def article_id_from_title(feed_id: str, title: str, published_raw: str) -> str:
    return _short_hash("entry", feed_id, title.strip(), published_raw.strip())


def host_of(url: str | None) -> str:
    if not url:
        return ""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
