"""Settings: typed, frozen, read once; the README documents every one of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newswatch.settings import Settings, SettingsError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_use_the_local_stack() -> None:
    settings = Settings.load({})
    assert settings.uses_local_kafka and settings.uses_local_elasticsearch
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.elasticsearch_endpoint == "http://127.0.0.1:9200"


def test_existing_clusters_and_secrets() -> None:
    settings = Settings.load(
        {
            "NEWSWATCH_KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            "NEWSWATCH_ELASTICSEARCH_URL": "https://es.example.org:9200",
            "NEWSWATCH_ELASTICSEARCH_PASSWORD": "hunter2",
        }
    )
    assert not settings.uses_local_kafka and not settings.uses_local_elasticsearch
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def test_settings_are_frozen() -> None:
    settings = Settings.load({})
    with pytest.raises(ValueError):
        settings.kafka_port = 1  # type: ignore[misc]


def test_invalid_value_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="kafka_port"):
        Settings.load({"NEWSWATCH_KAFKA_PORT": "not-a-port"})


def test_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "newswatch.env"
    env_file.write_text("NEWSWATCH_KAFKA_PORT=19092\n")
    assert Settings.load({"NEWSWATCH_ENV_FILE": str(env_file)}).kafka_port == 19092
    with pytest.raises(SettingsError, match="no such file"):
        Settings.load({"NEWSWATCH_ENV_FILE": str(tmp_path / "missing.env")})


def test_readme_documents_every_setting() -> None:
    documented = set(re.findall(r"`(NEWSWATCH_[A-Z_]+)`", README.read_text()))
    expected = {f"NEWSWATCH_{name.upper()}" for name in Settings.model_fields}
    missing = expected - documented
    assert not missing, f"README's settings table lacks {sorted(missing)}"
