"""The packaged rule files (package data): one YAML file per tag; the format is described in
streams/tagging/rules.py and each file explains itself in comments."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def default_rules_paths() -> list[Path]:
    """The packaged rule files, sorted by name (so tag order is stable)."""
    folder = resources.files(__package__)
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith((".yaml", ".yml")))
