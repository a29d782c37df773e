"""Fetched bytes -> articles, with feedparser, refusing what must not be parsed.

Three guards run before feedparser sees the body:

1. Entity declarations (``<!ENTITY``) are refused outright. feedparser strips most of them, but
   not all: one declared on the same line as ``<!DOCTYPE`` survives its filter, and its lenient
   fallback parser expands a "quadratic blow-up" entity that expat gave up on (measured with
   feedparser 6.0.14: 11 s of CPU and a 400 MB title from a 200 KB body). No real news feed
   needs them.
2. An HTML page (``<!doctype html>`` / ``<html>`` first) is reported as NOT_A_FEED rather than
   parsed into an empty result.
3. A declared legacy charset (HTTP ``charset`` or XML ``encoding``) on a body that is valid
   UTF-8 with non-ASCII bytes is corrected to UTF-8: feedparser trusts e.g. ``windows-1252``
   and would produce "CafÃ©". (The opposite mistake, UTF-8 declared on cp1252 bytes, feedparser
   detects itself.) Text that is still unreadable makes the entry rejected with a reason.

feedparser always gets a file object: given ``bytes`` it first tries ``open(bytes)``, so a hostile
server answering with the body ``/etc/passwd`` would make it read a local file.
"""

from __future__ import annotations

import codecs
import io
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import feedparser
import feedparser.api

from collectors.dates import DateProblem
from collectors.errors import ErrorKind, FetchFailed
from collectors.feeds import FeedConfig
from collectors.normalize import ChannelInfo, EntryRejected, normalize_entry
from newswatch.schema import Article

_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_XML_PROLOG_NOISE = re.compile(r"\A(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
_HTML_START = re.compile(r"<(?:!doctype\s+html|html[\s>])", re.IGNORECASE)
_XML_DECL_ENCODING = re.compile(rb"""\A(\s*<\?xml[^>]*?\bencoding\s*=\s*)(["'])([A-Za-z0-9._:-]+)\2""")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_UNICODE_CODECS = frozenset(
    {"utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}
)
# Byte patterns of "<" or "<?" in encodings where "<!ENTITY" is not plain ASCII bytes.
_WIDE_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # "<?xm" in EBCDIC, which feedparser also accepts
)
SNIFF_BYTES = 2048

# feedparser asks xml.sax for libxml2's driver first; it is never installed, and the failed import
# searches sys.path on every parse (a seventh of a changed feed's CPU). expat, the default, remains.
feedparser.api.PREFERRED_XML_PARSERS = []


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """A non-fatal problem with a feed. ``code`` is stable across polls, so the caller can log a
    problem once per feed (when the set of codes changes) rather than on every poll."""

    code: str
    detail: str


@dataclass(frozen=True)
class ParsedFeed:
    feed_id: str
    articles: tuple[Article, ...] = ()
    failure: FetchFailed | None = None
    problems: tuple[FeedProblem, ...] = ()
    rejected: tuple[EntryRejected, ...] = ()
    duplicates_dropped: int = 0
    date_problems: Mapping[DateProblem, int] = field(default_factory=dict)
    entry_count: int = 0
    channel: ChannelInfo = field(default_factory=ChannelInfo)

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def problem_codes(self) -> frozenset[str]:
        return frozenset(p.code for p in self.problems)


def problems_to_log(previous_codes: frozenset[str], parsed: ParsedFeed) -> tuple[FeedProblem, ...]:
    """The problems not reported for this feed last time; log these, remember ``parsed.problem_codes``."""
    return tuple(p for p in parsed.problems if p.code not in previous_codes)


def _wide_encoding(body: bytes) -> str | None:
    return next((codec for prefix, codec in _WIDE_ENCODINGS if body.startswith(prefix)), None)


def sniff_text(body: bytes, limit: int | None = SNIFF_BYTES) -> str:
    """The start of the body as text, good enough to recognise markup (not for content)."""
    chunk = body if limit is None else body[:limit]
    codec = _wide_encoding(body) or ("utf-8" if body.startswith(codecs.BOM_UTF8) else "latin-1")
    return chunk.decode(codec, errors="replace").lstrip("\ufeff")


def declares_entities(body: bytes) -> bool:
    if _wide_encoding(body) is None:  # ASCII-compatible: search the bytes without decoding
        return _ENTITY_DECLARATION.search(body) is not None
    return "<!entity" in sniff_text(body, None).lower()


def not_markup_reason(body: bytes) -> str | None:
    """Why the body cannot be a feed, judging from how it starts; None when it might be one."""
    head = sniff_text(body)
    start = _XML_PROLOG_NOISE.match(head)
    position = start.end() if start else 0
    if _HTML_START.match(head, position):
        return "an HTML page, not an RSS/Atom feed (wrong URL?)"
    if not head[position:].startswith("<"):
        if head[position:].startswith(("{", "[")):
            return "JSON, not an RSS/Atom feed (JSON Feed is not supported)"
        return "does not start with markup: not an RSS/Atom feed"
    return None


def _codec_name(label: str) -> str | None:
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def correct_declared_charset(body: bytes, content_type: str | None) -> tuple[bytes, str | None, FeedProblem | None]:
    """Fix a legacy charset declared on a body that is in fact UTF-8; see the module docstring.

    Valid UTF-8 with multi-byte sequences almost never arises by accident from text in a
    single-byte charset, so such a body is read as UTF-8 whatever it claims.
    """
    http_charset = _CHARSET_PARAM.search(content_type or "")
    xml_decl = _XML_DECL_ENCODING.match(body)
    declared = http_charset.group(1) if http_charset else (xml_decl.group(3).decode() if xml_decl else None)
    if declared is None or _codec_name(declared) in _UNICODE_CODECS or body.isascii():
        return body, content_type, None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return body, content_type, None
    if xml_decl:
        body = _XML_DECL_ENCODING.sub(rb'\1"utf-8"', body, count=1)
    if http_charset and content_type:
        content_type = _CHARSET_PARAM.sub("charset=utf-8", content_type)
    problem = FeedProblem("charset_corrected", f"declared charset {declared!r} but the body is UTF-8; read as UTF-8")
    return body, content_type, problem


def _bozo_problem(result: Mapping[str, Any]) -> tuple[FeedProblem | None, bool]:
    """The bozo problem, and whether it is a real syntax error (not just a charset/MIME remark)."""
    if not result.get("bozo"):
        return None, False
    exc = result.get("bozo_exception")
    name = type(exc).__name__ if exc is not None else "unknown"
    # feedparser's own name for charset and MIME-type remarks that do not affect the content.
    if isinstance(exc, feedparser.ThingsNobodyCaresAboutButMe):
        return FeedProblem(f"bozo:{name}", f"feed metadata problem ({name}: {exc})"), False
    return FeedProblem(f"bozo:{name}", f"feed is not well-formed ({name}: {exc})"), True


def _failed(feed: FeedConfig, kind: ErrorKind, detail: str, **kwargs: Any) -> ParsedFeed:
    return ParsedFeed(feed.feed_id, failure=FetchFailed(kind, detail, url=feed.url), **kwargs)


@dataclass
class _EntryTally:
    """What became of a feed's entries."""

    articles: list[Article] = field(default_factory=list)
    rejected: list[EntryRejected] = field(default_factory=list)
    duplicates: int = 0
    without_link: int = 0  # used, with an id from the GUID or the title (no usable http(s) link)
    date_problems: Counter[DateProblem] = field(default_factory=Counter)


def _entries_to_articles(
    entries: list[Any], feed: FeedConfig, fetched_at: datetime, channel: ChannelInfo
) -> _EntryTally:
    """Normalise entries, dropping repeats of a GUID or of an article id (first one wins)."""
    tally = _EntryTally()
    seen_guids: set[str] = set()
    seen_ids: set[str] = set()
    for entry in entries:
        # Keep the first occurrence: feeds list newest first, so it is the most recent copy.
        guid = " ".join(str(entry.get("id") or "").split())
        if guid and guid in seen_guids:
            tally.duplicates += 1
            continue
        if guid:
            seen_guids.add(guid)
        outcome = normalize_entry(entry, feed, fetched_at, channel=channel)
        if isinstance(outcome, EntryRejected):
            tally.rejected.append(outcome)
            continue
        if outcome.article.id in seen_ids:  # same link under two GUIDs: one article, not two
            tally.duplicates += 1
            continue
        seen_ids.add(outcome.article.id)
        tally.articles.append(outcome.article)
        if outcome.id_rule != "url":
            tally.without_link += 1
        if outcome.date_problem:
            tally.date_problems[outcome.date_problem] += 1
    return tally


def parse_feed(
    body: bytes,
    feed: FeedConfig,
    *,
    fetched_at: datetime,
    content_type: str | None = None,
    base_url: str | None = None,
) -> ParsedFeed:
    """Parse a fetched feed body into articles. Pure and total: never raises for any input.

    ``content_type`` is the HTTP Content-Type (for the charset); ``base_url`` the URL the body
    came from after redirects (to resolve relative links; defaults to the feed URL).
    """
    try:
        return _parse_feed(body, feed, fetched_at, content_type, base_url)
    except Exception as exc:  # a feedparser or normalisation bug must not stop the other feeds
        return _failed(feed, ErrorKind.INTERNAL_ERROR, f"parser crashed: {type(exc).__name__}: {exc}")


def _parse_feed(
    body: bytes, feed: FeedConfig, fetched_at: datetime, content_type: str | None, base_url: str | None
) -> ParsedFeed:
    if not body.strip():
        return _failed(feed, ErrorKind.EMPTY_BODY, "the response body is empty")
    if declares_entities(body):
        return _failed(feed, ErrorKind.REFUSED_ENTITIES, "the document declares XML entities (<!ENTITY); refused")
    not_markup = not_markup_reason(body)
    if not_markup:
        return _failed(feed, ErrorKind.NOT_A_FEED, not_markup)

    problems: list[FeedProblem] = []
    body, content_type, charset_problem = correct_declared_charset(body, content_type)
    if charset_problem:
        problems.append(charset_problem)
    # Sanitising and URI rewriting inside HTML content are for clients that display the HTML; we keep
    # only plain text (scripts and styles dropped by collectors.text), and skipping them cuts
    # feedparser's CPU time about five-fold on content-rich feeds. No content-location either:
    # given one, feedparser joins it with every link and id of every entry (a tenth of a changed
    # feed's CPU); normalize resolves the few relative links against the document URL itself.
    result = feedparser.parse(
        io.BytesIO(body),
        response_headers={"content-type": content_type or "application/xml"},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    entries = result.get("entries") or []
    version = result.get("version") or ""
    bozo, malformed = _bozo_problem(result)
    channel = ChannelInfo.from_feedparser(result.get("feed") or {}, base_url or (None if feed.is_file else feed.url))

    if not entries:
        if not version:
            kind = ErrorKind.PARSE_ERROR if bozo and malformed else ErrorKind.NOT_A_FEED
            detail = bozo.detail if bozo and malformed else "no RSS/Atom structure found"
            return _failed(feed, kind, detail, channel=channel)
        problems.append(FeedProblem("no_entries", "the feed is well-formed but has no entries"))
    if bozo:
        problems.append(bozo)

    tally = _entries_to_articles(entries, feed, fetched_at, channel)
    if tally.duplicates:
        detail = f"{tally.duplicates} duplicate entries (same GUID or link) dropped"
        problems.append(FeedProblem("duplicate_entries", detail))
    if tally.without_link:
        detail = f"{tally.without_link} entries without a usable link; their ids come from the GUID or title"
        problems.append(FeedProblem("no_link", detail))
    first_rejection: dict[str, str] = {}
    for rejection in tally.rejected:
        first_rejection.setdefault(rejection.reason, rejection.detail)
    for reason, count in Counter(r.reason for r in tally.rejected).items():
        detail = f"{count} entries rejected ({reason}), e.g. {first_rejection[reason]}"
        problems.append(FeedProblem(f"rejected:{reason}", detail))
    for problem, count in tally.date_problems.items():
        detail = f"{count} entries with a {problem} date; fetch time used"
        problems.append(FeedProblem(f"date:{problem}", detail))

    common = {
        "problems": tuple(problems),
        "rejected": tuple(tally.rejected),
        "duplicates_dropped": tally.duplicates,
        "date_problems": dict(tally.date_problems),
        "entry_count": len(entries),
        "channel": channel,
    }
    if entries and not tally.articles and tally.rejected:
        if bozo and malformed:  # the parser recovered only debris from a broken document
            return _failed(feed, ErrorKind.PARSE_ERROR, f"{bozo.detail}; no usable entry", **common)
        detail = f"all {len(tally.rejected)} entries rejected; first: {tally.rejected[0].detail}"
        return _failed(feed, ErrorKind.NO_USABLE_ENTRIES, detail, **common)
    return ParsedFeed(feed.feed_id, articles=tuple(tally.articles), **common)
