"""The article schema shared by every stage, as it travels on Kafka.

One typed model per topic, each carrying ``schema_version`` so a consumer can refuse (dead-letter)
a record written by an incompatible producer instead of guessing. Times are always timezone-aware
UTC; a naive datetime is rejected at the boundary rather than silently assumed to be UTC.

- ``Article``       -> topic ``news.raw``     (collectors write it)
- ``TaggedArticle`` -> topic ``news.tagged``  (the Faust stage writes it)

The Kafka key of both is ``Article.id``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Source(_Frozen):
    """Where an article came from: the feed's display name and the site's host name."""

    name: str
    site: str


class Article(_Frozen):
    """One news item as collected: plain text, canonical URL, UTC times."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(description="stable hash of the canonical URL (or of the GUID when there is no link)")
    content_hash: str = Field(description="hash of title+summary+text; a change means a new version")
    version: int = Field(default=1, ge=1, description="1 for the first emission, +1 for each content change")
    url: str
    source: Source
    title: str
    summary: str = ""
    text: str = ""
    published: UtcDatetime
    published_inferred: bool = Field(
        default=False, description="true when the feed gave no usable date and `published` is the fetch time"
    )
    fetched: UtcDatetime
    language: str | None = Field(default=None, description="the feed's language hint, if any")
    feed_url: str


class Evidence(_Frozen):
    """One matched term that contributed to a tag: where it is and what it weighed."""

    term: str
    field: str
    start: int
    end: int
    weight: float = 0.0


class TaggedArticle(Article):
    """An article after enrichment by the Faust stage."""

    lang: str = Field(description="detected language (ISO 639-1)")
    tags: tuple[str, ...] = ()
    scores: dict[str, float] = Field(default_factory=dict)
    tag_evidence: dict[str, tuple[Evidence, ...]] = Field(default_factory=dict)
    places: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    story_id: str = Field(description="id shared by near-duplicate copies of the same story")
    duplicate_of: str | None = Field(default=None, description="id of the first article of the story, if not this one")
    processed: UtcDatetime


class SchemaError(ValueError):
    """A record on a topic that does not match the schema this process understands (dead-letter it)."""


def decode_article(payload: bytes | str | dict[str, Any]) -> Article:
    return _decode(Article, payload)


def decode_tagged(payload: bytes | str | dict[str, Any]) -> TaggedArticle:
    return _decode(TaggedArticle, payload)


M = TypeVar("M", bound=Article)


def _decode(model: type[M], payload: bytes | str | dict[str, Any]) -> M:
    try:
        if isinstance(payload, dict):
            obj = model.model_validate(payload)
        else:
            obj = model.model_validate_json(payload)
    except ValueError as exc:
        raise SchemaError(f"not a valid {model.__name__} record: {exc}") from exc
    if obj.schema_version != SCHEMA_VERSION:
        raise SchemaError(
            f"{model.__name__} schema_version {obj.schema_version} is not supported "
            f"(this build reads version {SCHEMA_VERSION}); upgrade the consumer"
        )
    return obj


def encode(record: BaseModel) -> bytes:
    return record.model_dump_json().encode()
