"""Dead-letter records: a bad record is kept, with why it was rejected, and the stream moves on."""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from newswatch.schema import UtcDatetime


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str  # "streams", "indexer", ...
    error_kind: str  # e.g. "schema", "enrichment", "mapper_parsing_exception"
    error: str
    topic: str
    partition: int
    offset: int
    key: str | None
    value: str  # the original record: UTF-8 text, or base64 when it is not text
    value_encoding: str  # "utf-8" or "base64"
    at: UtcDatetime

    @classmethod
    def of(
        cls,
        *,
        stage: str,
        error_kind: str,
        error: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        at: datetime,
    ) -> DeadLetter:
        raw = value or b""
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(raw).decode(), "base64"
        return cls(
            stage=stage,
            error_kind=error_kind,
            error=error[:2000],
            topic=topic,
            partition=partition,
            offset=offset,
            key=key.decode("utf-8", "replace") if key is not None else None,
            value=text,
            value_encoding=encoding,
            at=at,
        )

    def original_value(self) -> bytes:
        return base64.b64decode(self.value) if self.value_encoding == "base64" else self.value.encode()
