"""The bundled demo feeds, loaded from ``newswatch/demo/feeds/`` and re-rendered item by item.

Each file is kept as text and cut into a head (everything before the first item), the items and a
tail. Items are served verbatim, so the CDATA sections, character references, odd whitespace and
missing elements written into the files reach the collector exactly as written: the normaliser is
meant to have work to do. The same file is also parsed with ElementTree, only to read each item's
identity, date and text (for the release schedule and the tests).

The files are ours and trusted; nothing here is meant for feeds from the internet.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from importlib import resources
from pathlib import Path
from typing import Literal

FeedFormat = Literal["rss", "atom"]

ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_A = f"{{{ATOM_NS}}}"

CONTENT_TYPES: dict[FeedFormat, str] = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
}

# Items are written as bare <item>/<entry> elements (no attributes), one after another; the loader
# checks that this cut finds exactly the items ElementTree finds, so a file that breaks the
# convention fails loudly instead of being served with items missing.
_ITEM_RE = re.compile(r"[ \t]*<(item|entry)>.*?</\1>[ \t]*\n?", re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class DemoItem:
    """One item of a demo feed: what the release schedule and the tests need, plus its source XML."""

    feed: str  # file name of its feed, e.g. "continental-wire.xml"
    guid: str  # RSS <guid> (or <link> when absent) / Atom <id>
    link: str | None
    title: str
    summary: str  # plain text: tags stripped, entities decoded
    published: datetime | None  # None when the item deliberately has no date
    raw: str  # the item's XML exactly as in the file

    @property
    def uid(self) -> str:
        """Unique across all demo feeds (a guid is only unique within its feed)."""
        return f"{self.feed}#{self.guid}"

    @property
    def text(self) -> str:
        return f"{self.title} {self.summary}"


@dataclass(frozen=True)
class DemoFeed:
    """One demo feed file, ready to be rendered with any subset of its items."""

    filename: str
    format: FeedFormat
    language: str
    head: str
    tail: str
    items: tuple[DemoItem, ...]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    def render(self, visible_uids: Collection[str], rewrite: Callable[[DemoItem], str] | None = None) -> bytes:
        """The feed document with only the given items, in file order (newest first).

        ``rewrite`` may replace an item's XML (the live mode moves its dates to now).
        """
        body = "".join((rewrite(item) if rewrite else item.raw) for item in self.items if item.uid in visible_uids)
        return (self.head + body + self.tail).encode("utf-8")


def plain_text(markup: str) -> str:
    """Rough HTML-to-text, enough to search the demo items; the collectors have the real normaliser."""
    return _SPACE_RE.sub(" ", html.unescape(_TAG_RE.sub(" ", markup))).strip()


def _child_text(element: ET.Element, tag: str) -> str | None:
    child = element.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _rss_item(feed: str, element: ET.Element, raw: str) -> DemoItem:
    link = _child_text(element, "link")
    guid = _child_text(element, "guid") or link
    if guid is None:
        raise ValueError(f"{feed}: an item has neither guid nor link")
    pub_date = _child_text(element, "pubDate")
    return DemoItem(
        feed=feed,
        guid=guid,
        link=link,
        title=plain_text(_child_text(element, "title") or ""),
        summary=plain_text(_child_text(element, "description") or ""),
        published=parsedate_to_datetime(pub_date) if pub_date else None,
        raw=raw,
    )


def _atom_entry(feed: str, element: ET.Element, raw: str) -> DemoItem:
    guid = _child_text(element, f"{_A}id")
    if guid is None:
        raise ValueError(f"{feed}: an entry has no id")
    link = None
    for link_element in element.findall(f"{_A}link"):
        if link_element.get("rel", "alternate") == "alternate":
            link = link_element.get("href")
            break
    stamp = _child_text(element, f"{_A}published") or _child_text(element, f"{_A}updated")
    return DemoItem(
        feed=feed,
        guid=guid,
        link=link,
        title=plain_text(_child_text(element, f"{_A}title") or ""),
        summary=plain_text(_child_text(element, f"{_A}summary") or ""),
        published=datetime.fromisoformat(stamp) if stamp else None,
        raw=raw,
    )


def parse_feed(filename: str, text: str) -> DemoFeed:
    """Cut a demo feed file into head, items and tail, and read each item's metadata."""
    root = ET.fromstring(text.encode("utf-8"))
    if root.tag == "rss":
        feed_format: FeedFormat = "rss"
        channel = root.find("channel")
        if channel is None:
            raise ValueError(f"{filename}: RSS without <channel>")
        elements = channel.findall("item")
        language = _child_text(channel, "language") or ""
    elif root.tag == f"{_A}feed":
        feed_format = "atom"
        elements = root.findall(f"{_A}entry")
        language = root.get(_XML_LANG, "")
    else:
        raise ValueError(f"{filename}: neither RSS 2.0 nor Atom (root element {root.tag!r})")

    chunks = list(_ITEM_RE.finditer(text))
    if len(chunks) != len(elements) or not chunks:
        raise ValueError(f"{filename}: found {len(chunks)} item blocks but {len(elements)} items")
    for before, after in zip(chunks, chunks[1:], strict=False):
        if text[before.end() : after.start()].strip():
            raise ValueError(f"{filename}: unexpected text between items at offset {before.end()}")

    parse_item = _rss_item if feed_format == "rss" else _atom_entry
    items = tuple(
        parse_item(filename, element, chunk.group(0)) for element, chunk in zip(elements, chunks, strict=True)
    )
    return DemoFeed(
        filename=filename,
        format=feed_format,
        language=language,
        head=text[: chunks[0].start()],
        tail=text[chunks[-1].end() :],
        items=items,
    )


def demo_feed_files() -> list[Path]:
    """The bundled feed files, sorted by name."""
    directory = resources.files("newswatch.demo").joinpath("feeds")
    return sorted(Path(str(entry)) for entry in directory.iterdir() if entry.name.endswith(".xml"))


def load_demo_feeds(paths: Iterable[Path] | None = None) -> tuple[DemoFeed, ...]:
    """Parse the bundled feed files (or the given ones)."""
    files = demo_feed_files() if paths is None else list(paths)
    return tuple(parse_feed(path.name, path.read_text(encoding="utf-8")) for path in files)


def all_items(feeds: Iterable[DemoFeed]) -> list[DemoItem]:
    return [item for feed in feeds for item in feed.items]
