"""The streams worker's state is bounded: its changelog topics expire old entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from newswatch.settings import Settings


def test_the_tables_changelogs_are_cleaned_by_time_as_well_as_compacted(tmp_path: Path) -> None:
    from streams.app import create_app

    settings = Settings(state_dir=tmp_path, streams_state_days=2)
    app = create_app(settings, processor=cast(Any, object()), web_port=16068)
    for name in ("seen", "stories"):
        config = app.tables[name].changelog_topic.config
        assert config["cleanup.policy"] == "compact,delete"
        assert config["retention.ms"] == str(2 * 86_400_000)
        assert int(config["segment.ms"]) <= 86_400_000
