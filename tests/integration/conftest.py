"""Session fixtures for integration tests: the real local Kafka + Elasticsearch, never fakes.

The stack is brought up once (``LocalStack.up`` is idempotent: a running stack is reused) and
left running afterwards, so repeated runs are fast; `.ci/run` stops it at the end.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient

from newswatch.clients import kafka_python_config
from newswatch.settings import Settings
from newswatch.stack.local import LocalStack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.load()


TEST_TOPIC_PREFIX = "test-"  # unique_name's: topics named from it belong to one test


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[LocalStack]:
    local = LocalStack(settings, progress=lambda message: print(f"[stack] {message}"))
    local.up()
    before = _topics(settings)
    yield local
    # A developer's stack outlives the run: the topics the tests made would pile up (a thousand slowed
    # the broker's start). Only this session's test topics go; anything else is left alone.
    leftovers = sorted(name for name in _topics(settings) - before if name.startswith(TEST_TOPIC_PREFIX))
    if leftovers:
        with contextlib.closing(KafkaAdminClient(**kafka_python_config(settings))) as admin:
            for start in range(0, len(leftovers), 100):
                admin.delete_topics(leftovers[start : start + 100], timeout_ms=60_000)


def _topics(settings: Settings) -> set[str]:
    with contextlib.closing(KafkaAdminClient(**kafka_python_config(settings))) as admin:
        return set(admin.list_topics())


@pytest.fixture
def unique_name() -> str:
    return f"{TEST_TOPIC_PREFIX}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def cli_env() -> dict[str, str]:
    """Environment for running the `newswatch` command in a subprocess."""
    return dict(os.environ)
