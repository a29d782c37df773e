"""Plain text out of feed fields: HTML stripped, entities decoded, whitespace normalised.

Built on the stdlib ``html.parser`` (a tolerant tokenizer that copes with the broken markup feeds
carry) rather than regular expressions, which cannot tell a ``<`` in text from one in a tag.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content is never article text.
_SKIPPED = frozenset({"script", "style", "noscript", "template", "head", "iframe", "object", "svg", "math"})
# Elements that separate lines of text; without a break here "end.</p><p>Next" would run together.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
        "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})

# Invisible characters that only get in the way of matching and hashing.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
# C0 controls except tab/newline (which whitespace handling covers); never meaningful in text.
_C0_CONTROLS = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127], None)
# Characters that betray a decoding failure: U+FFFD, and C1 controls (0x80-0x9F bytes read as latin-1).
_UNREADABLE = re.compile("[\ufffd\u0080-\u009f]")
# Typical UTF-8-read-as-cp1252 pairs: "Ã©" for "é", "â€™" for "’", "Â " for a no-break space.
_MOJIBAKE = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u2122]"
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # decodes &amp; &#233; &eacute; ... in text
        self.lines: list[list[str]] = [[]]
        self.skip_depth = 0

    def _break(self) -> None:
        if self.lines[-1]:
            self.lines.append([])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skip_depth += 1
        elif tag in _BLOCKS:
            self._break()
        elif tag in _CELLS:
            self.lines[-1].append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCKS:
            self._break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <hr/>, <script/>: a self-closed element opens and closes at once.
        if tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.lines[-1].append(data)


def normalize_whitespace(text: str, *, multiline: bool = True) -> str:
    """Collapse runs of whitespace (incl. no-break and other Unicode spaces) to one space per line.

    With ``multiline`` the line structure is kept (one ``\\n`` between non-empty lines), otherwise
    everything becomes one line. Invisible and control characters are removed.
    """
    text = text.translate(_INVISIBLE).translate(_C0_CONTROLS)
    if not multiline:
        return " ".join(text.split())
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def html_to_text(html: str, *, multiline: bool = True) -> str:
    """Visible text of an HTML fragment: tags, scripts and styles removed, entities decoded."""
    if "<" not in html and "&" not in html:
        return normalize_whitespace(html, multiline=multiline)
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = "\n".join("".join(parts) for parts in extractor.lines)
    return normalize_whitespace(text, multiline=multiline)


def field_to_text(value: str | None, content_type: str | None, *, multiline: bool = True) -> str:
    """A feedparser text construct as plain text.

    feedparser reports the construct's type: ``text/plain`` values are already entity-decoded and
    must not go through the HTML parser (a title "Use <b> for bold" would lose its "<b>").
    """
    if not value:
        return ""
    if content_type and "html" not in content_type:
        return normalize_whitespace(value, multiline=multiline)
    return html_to_text(value, multiline=multiline)


def repair_mojibake(text: str) -> str:
    """Undo one round of UTF-8 bytes decoded as cp1252/latin-1 ("CafÃ©" -> "Café").

    Applied only when the tell-tale pairs appear and the round trip is lossless and valid UTF-8,
    so correct text (which almost never contains "Ã©"-like pairs) is returned unchanged.
    """
    if not _MOJIBAKE.search(text):
        return text
    for codec in ("cp1252", "latin-1"):
        try:
            repaired = text.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        return repaired
    return text


def unreadable_share(text: str) -> float:
    """Fraction of characters that are decoding debris (U+FFFD or C1 controls)."""
    if not text:
        return 0.0
    return len(_UNREADABLE.findall(text)) / len(text)


def is_unreadable(text: str, *, tolerance: float = 0.01) -> bool:
    """True when decoding debris exceeds ``tolerance`` of the text (any at all in short text)."""
    bad = len(_UNREADABLE.findall(text))
    return bad > 0 and bad >= max(1.0, len(text) * tolerance)


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, marked with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", max(0, limit - 200))
    if space > 0:
        cut = cut[:space]
    return cut.rstrip() + "…"
