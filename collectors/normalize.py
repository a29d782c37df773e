"""One feedparser entry -> one ``Article`` (or a typed reason why not). Pure: no I/O, no clock.

The building blocks live in small modules and are re-exported here:
``urls`` (canonical URL, id rules), ``text`` (HTML -> plain text), ``dates`` (UTC times).

Fields when the entry lacks something (see ``urls`` for the id rules):

- no usable link: ``url`` is the GUID when that is an http(s) URL, else the channel's site link,
  else the feed URL, so a reader always has somewhere to click;
- no title: ``title`` stays empty (we do not invent one); an entry with no title, summary or
  text at all is rejected as EMPTY;
- very long fields are cut (``TITLE_MAX``/``SUMMARY_MAX``/``TEXT_MAX`` characters) so one record
  stays well under Kafka's default 1 MB message limit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from collectors.dates import FUTURE_TOLERANCE, DateProblem, PublishedTime, resolve_published, to_utc
from collectors.feeds import FeedConfig
from collectors.text import field_to_text, html_to_text, is_unreadable, repair_mojibake, truncate
from collectors.urls import (
    article_id_from_guid,
    article_id_from_title,
    article_id_from_url,
    canonical_url,
    host_of,
    try_canonical_url,
)
from newswatch.schema import Article, Source

__all__ = [
    "ChannelInfo",
    "DateProblem",
    "EntryRejected",
    "NormalizedEntry",
    "PublishedTime",
    "RejectReason",
    "article_id_from_url",
    "canonical_url",
    "content_hash",
    "entry_to_article",
    "html_to_text",
    "normalize_entry",
    "resolve_published",
    "to_utc",
]

TITLE_MAX = 500
SUMMARY_MAX = 5_000
TEXT_MAX = 100_000
_LANGUAGE_MAX = 35


class RejectReason(StrEnum):
    NO_IDENTITY = "no_identity"  # no link, no GUID and no title: nothing stable to derive an id from
    EMPTY = "empty"  # no title, summary or text
    UNREADABLE_TEXT = "unreadable_text"  # decoding debris (wrong charset the parser could not undo)


@dataclass(frozen=True, slots=True)
class EntryRejected:
    reason: RejectReason
    detail: str
    guid: str | None = None
    link: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What the feed says about itself; used for the source name/site and as a language fallback."""

    title: str = ""
    link: str | None = None
    language: str | None = None

    document_url: str | None = None  # where the feed was fetched from: the base for relative links

    @classmethod
    def from_feedparser(cls, channel: Mapping[str, Any], document_url: str | None = None) -> ChannelInfo:
        title_detail = channel.get("title_detail") or {}
        return cls(
            title=field_to_text(channel.get("title"), title_detail.get("type"), multiline=False),
            link=try_canonical_url(channel.get("link"), document_url),
            document_url=document_url,
            language=_clean_language(channel.get("language")),
        )


@dataclass(frozen=True, slots=True)
class NormalizedEntry:
    article: Article
    date_problem: DateProblem | None
    id_rule: str  # "url", "guid" or "title": which rule produced the id (for metrics/debugging)


def content_hash(title: str, summary: str, text: str) -> str:
    """Hash of the visible content; a change in any of the three fields makes a new version."""
    payload = "\x1f".join((title, summary, text)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(payload).hexdigest()[:32]


def _clean_language(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower().replace("_", "-")
    return value[:_LANGUAGE_MAX] or None


def _plain(value: Any, detail: Any, *, multiline: bool = True) -> str:
    # Mojibake is repaired on the raw value: whitespace normalisation would turn the "Ã\xa0" of
    # a mangled "à" into "Ã ", which no longer round-trips.
    if not isinstance(value, str) or not value:
        return ""
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    return field_to_text(repair_mojibake(value), kind, multiline=multiline)


def _best_content(entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
    # Atom may carry several <content> elements (or content:encoded next to a summary): take the
    # longest textual one, which is the full article when there is one.
    best: tuple[str | None, str | None] = (None, None)
    for item in entry.get("content") or ():
        value, kind = item.get("value"), item.get("type") or "text/html"
        if isinstance(value, str) and ("html" in kind or "text" in kind):
            if best[0] is None or len(value) > len(best[0]):
                best = (value, kind)
    return best


def normalize_entry(
    entry: Mapping[str, Any],
    feed: FeedConfig,
    fetched_at: datetime,
    *,
    channel: ChannelInfo | None = None,
    future_tolerance: timedelta = FUTURE_TOLERANCE,
) -> NormalizedEntry | EntryRejected:
    """Build the article for one feedparser entry, or say precisely why it cannot be used."""
    channel = channel or ChannelInfo()
    guid = " ".join(str(entry.get("id") or "").split()) or None
    raw_link = entry.get("link") if isinstance(entry.get("link"), str) else None
    link = try_canonical_url(raw_link, channel.document_url or channel.link)

    title = _plain(entry.get("title"), entry.get("title_detail"), multiline=False)
    summary = _plain(entry.get("summary"), entry.get("summary_detail"))
    content_value, content_type = _best_content(entry)
    text = _plain(content_value, {"type": content_type})

    fields = {"title": title, "summary": summary, "text": text}
    for name, value in fields.items():
        if is_unreadable(value):
            return EntryRejected(
                RejectReason.UNREADABLE_TEXT,
                f"{name} contains undecodable characters (wrong or missing charset?)",
                guid,
                raw_link,
            )
    title = truncate(fields["title"], TITLE_MAX)
    summary = truncate(fields["summary"], SUMMARY_MAX)
    text = truncate(fields["text"], TEXT_MAX)
    if not (title or summary or text):
        return EntryRejected(RejectReason.EMPTY, "entry has no title, summary or text", guid, raw_link)

    published = resolve_published(entry, fetched_at, future_tolerance=future_tolerance)
    if link is not None:
        article_id, id_rule, url = article_id_from_url(link), "url", link
    elif guid is not None:
        article_id, id_rule = article_id_from_guid(feed.feed_id, guid), "guid"
        url = try_canonical_url(guid) or channel.link or feed.url
    elif title:
        raw_date = str(entry.get("published") or entry.get("updated") or "")
        article_id, id_rule = article_id_from_title(feed.feed_id, title, raw_date), "title"
        url = channel.link or feed.url
    else:
        return EntryRejected(RejectReason.NO_IDENTITY, "entry has no link, GUID or title", guid, raw_link)

    site = host_of(channel.link) or feed.host or host_of(url)
    title_language = (entry.get("title_detail") or {}).get("language")
    article = Article(
        id=article_id,
        content_hash=content_hash(title, summary, text),
        url=url,
        source=Source(name=feed.name or channel.title or site or feed.url, site=site),
        title=title,
        summary=summary,
        text=text,
        published=published.value,
        published_inferred=published.inferred,
        fetched=fetched_at,
        language=feed.language or _clean_language(title_language) or channel.language,
        feed_url=feed.url,
    )
    return NormalizedEntry(article, published.problem, id_rule)


def entry_to_article(
    entry: Mapping[str, Any], feed: FeedConfig, fetched_at: datetime, *, channel: ChannelInfo | None = None
) -> Article | None:
    """The article for an entry, or None when it is unusable (see ``normalize_entry`` for why)."""
    result = normalize_entry(entry, feed, fetched_at, channel=channel)
    return result.article if isinstance(result, NormalizedEntry) else None
