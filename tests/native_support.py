"""The compiled extension for the tests that compare it with its Python twin."""

from __future__ import annotations

import os
from types import ModuleType

import pytest


def native_module_or_skip() -> ModuleType:
    """``newswatch_native``; the calling test module is skipped when it is not installed, unless
    NEWSWATCH_REQUIRE_NATIVE=1 (CI, which has Rust): then a missing build fails instead."""
    try:
        import newswatch_native
    except ImportError:  # pragma: no cover - depends on the installation
        if os.environ.get("NEWSWATCH_REQUIRE_NATIVE") == "1":
            raise
        pytest.skip("newswatch-native is not installed (make setup builds it with cargo)", allow_module_level=True)
    return newswatch_native
