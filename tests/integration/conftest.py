"""Session fixtures for integration tests: the real local Kafka + Elasticsearch, never fakes.

The stack is brought up once (``LocalStack.up`` is idempotent: a running stack is reused) and
left running afterwards, so repeated runs are fast; `.ci/run` stops it at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from newswatch.settings import Settings
from newswatch.stack.local import LocalStack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.load()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[LocalStack]:
    local = LocalStack(settings, progress=lambda message: print(f"[stack] {message}"))
    local.up()
    yield local


@pytest.fixture
def unique_name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def cli_env() -> dict[str, str]:
    """Environment for running the `newswatch` command in a subprocess."""
    return dict(os.environ)
