"""The feeds file: which feeds to poll, how often, and with which hints.

The file is YAML, a list of feeds::

    - url: https://www.example.org/rss.xml
      name: Example News          # optional; defaults to the feed's own title, then its host
      language: en                # optional hint (BCP 47 tag), passed on as Article.language
      country: GB                 # optional ISO 3166-1 alpha-2 code
      interval: 300               # optional; seconds between polls, default 300, minimum 1

``feed_id`` is derived from the URL alone (not the name or the position in the file), so
renaming a feed or reordering the file keeps its per-feed state; changing the URL makes it a
new feed, which is what it is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_INTERVAL_SECONDS = 300
MAX_INTERVAL_SECONDS = 86_400  # a larger value is almost always milliseconds typed as seconds
ALLOWED_FEED_SCHEMES = ("http", "https", "file")

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_COUNTRY_CODE = re.compile(r"^[A-Za-z]{2}$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class FeedsFileError(ValueError):
    """The feeds file cannot be used; the message names the file, the entry, the field and the fix."""


def normalize_feed_url(url: str) -> str:
    """The feed URL in the form used for its identity.

    Only representation differences that cannot change what the server returns are removed
    (scheme/host case, default port, fragment). Query parameters are kept as written: unlike
    article links, a feed URL's parameters (even ``ref``) may select the feed.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    netloc = host
    if ":" in host:  # IPv6 literal; urlsplit stripped its brackets
        netloc = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{parts.port}"
    path = parts.path or ("/" if scheme in _DEFAULT_PORTS else "")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def feed_id_for_url(url: str) -> str:
    """Stable 16-hex-digit id of a feed, from its normalised URL."""
    return hashlib.sha256(normalize_feed_url(url).encode()).hexdigest()[:16]


class FeedConfig(BaseModel):
    """One entry of the feeds file."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    url: str = Field(description="http, https or file URL of the feed")
    name: str | None = Field(default=None, min_length=1)
    language: str | None = None
    country: str | None = None
    # strict: YAML `interval: "5m"` or `interval: true` must fail loudly, not become 5 or 1.
    interval: Annotated[int, Field(strict=True, ge=1, le=MAX_INTERVAL_SECONDS)] = DEFAULT_INTERVAL_SECONDS

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_FEED_SCHEMES:
            raise ValueError(f"scheme {parts.scheme or '(none)'!r} is not supported; use http://, https:// or file:///")
        if scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise ValueError("a file URL must be absolute, like file:///srv/feeds/example.xml")
        else:
            if not parts.hostname:
                raise ValueError("the URL has no host name; write it like https://www.example.org/rss.xml")
            try:
                _ = parts.port  # raises on a non-numeric or out-of-range port
            except ValueError as exc:
                raise ValueError(f"invalid port: {exc}") from None
        return value

    @field_validator("language")
    @classmethod
    def _check_language(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _LANGUAGE_TAG.match(value):
            raise ValueError("expected a language tag such as 'en', 'fr' or 'pt-BR'")
        return value.lower()

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _COUNTRY_CODE.match(value):
            raise ValueError("expected a two-letter ISO 3166-1 country code such as 'GB' or 'FR'")
        return value.upper()

    @property
    def feed_id(self) -> str:
        return feed_id_for_url(self.url)

    @property
    def is_file(self) -> bool:
        return urlsplit(self.url).scheme.lower() == "file"

    @property
    def host(self) -> str:
        """Host name of the feed URL ('' for file URLs); the unit of per-host politeness."""
        return (urlsplit(self.url).hostname or "").lower()


_FIELD_FIXES = {
    "url": "give the full feed address, e.g. `url: https://www.example.org/rss.xml`",
    "interval": f"give whole seconds between 1 and {MAX_INTERVAL_SECONDS}, e.g. `interval: 300`",
    "language": "use a language tag such as `language: en`",
    "country": "use a two-letter country code such as `country: GB`",
    "name": "give a non-empty name or leave the field out",
}


def _describe_error(source: str, index: int, raw: dict[str, Any], error: ValidationError) -> str:
    url = raw.get("url")
    where = f"{source}: feed #{index + 1}" + (f" ({url})" if isinstance(url, str) else "")
    lines = []
    for problem in error.errors():
        field = ".".join(str(p) for p in problem["loc"]) or "(entry)"
        if problem["type"] == "extra_forbidden":
            known = ", ".join(FeedConfig.model_fields)
            fix = f"remove it or correct the spelling; known fields are: {known}"
        elif problem["type"] == "missing":
            fix = _FIELD_FIXES.get(field, "add the field")
        else:
            fix = _FIELD_FIXES.get(field, "correct the value")
        given = raw.get(field, "(missing)") if problem["type"] != "missing" else "(missing)"
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: field {field!r} = {given!r}: {message}; fix: {fix}")
    return "\n".join(lines)


def parse_feeds(data: Any, *, source: str = "<feeds>") -> list[FeedConfig]:
    """Validate already-loaded YAML data (a list of mappings) into feeds.

    Every bad entry is reported, not just the first, so one edit fixes the file. Two entries
    with the same feed id (the same URL up to case, default port and fragment) are an error:
    they would be polled twice and their articles attributed arbitrarily.
    """
    if data is None:
        raise FeedsFileError(f"{source}: the file is empty; fix: add a list of feeds, e.g. `- url: https://...`")
    if not isinstance(data, list):
        kind = "a mapping" if isinstance(data, dict) else type(data).__name__
        raise FeedsFileError(
            f"{source}: the top level must be a list of feeds, got {kind}; "
            "fix: write each feed as a list item starting with `- url: ...`"
        )
    feeds: list[FeedConfig] = []
    problems: list[str] = []
    first_index_by_id: dict[str, int] = {}
    for index, raw in enumerate(data):
        if not isinstance(raw, dict):
            problems.append(
                f"{source}: feed #{index + 1}: expected a mapping with at least `url`, got {raw!r}; "
                "fix: write `- url: https://...`"
            )
            continue
        try:
            feed = FeedConfig.model_validate(raw)
        except ValidationError as exc:
            problems.append(_describe_error(source, index, raw, exc))
            continue
        earlier = first_index_by_id.setdefault(feed.feed_id, index)
        if earlier != index:
            problems.append(
                f"{source}: feed #{index + 1} ({feed.url}): field 'url' repeats feed #{earlier + 1}; "
                "fix: remove one of the two entries"
            )
            continue
        feeds.append(feed)
    if problems:
        raise FeedsFileError("\n".join(problems))
    return feeds


def parse_feeds_yaml(text: str, *, source: str = "<feeds>") -> list[FeedConfig]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FeedsFileError(f"{source}: not valid YAML: {exc}; fix: check indentation and quoting") from None
    return parse_feeds(data, source=source)


def load_feeds(path: str | Path) -> list[FeedConfig]:
    """Read and validate a feeds file; raises FeedsFileError with a message fit for an operator."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FeedsFileError(f"{path}: no such file; fix: pass the path of an existing feeds file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedsFileError(f"{path}: cannot be read: {exc}") from None
    return parse_feeds_yaml(text, source=str(path))


def feeds_by_id(feeds: Sequence[FeedConfig]) -> dict[str, FeedConfig]:
    return {feed.feed_id: feed for feed in feeds}
