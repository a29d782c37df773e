"""Rewrite README.md's settings table from the Settings class (between the settings markers)."""

from __future__ import annotations

import re
from pathlib import Path

from newswatch.cli import settings_table_markdown
from newswatch.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"

text = README.read_text()
table = settings_table_markdown(Settings)
updated = re.sub(f"{START}.*?{END}", f"{START}\n{table}\n{END}", text, flags=re.DOTALL)
README.write_text(updated)
print("README settings table updated" if updated != text else "README settings table already current")
