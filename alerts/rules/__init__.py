"""The shipped alert rules (package data): ``default.yaml``; the format is described in alerts/rule.py."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def default_rules_path() -> Path:
    return Path(str(resources.files(__package__).joinpath("default.yaml")))
