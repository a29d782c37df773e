"""The consoles every `newswatch` command prints through, and how an error or warning is printed.

Messages go to stderr unwrapped (``soft_wrap``): an error names files, URLs and commands that a
person copies, and rich's hard wrapping at the console width would break them mid-word. They are
escaped: exception texts quote topics (``news.feeds[3]``), queries and reasons full of brackets
that rich would otherwise read as markup and drop.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

console = Console(stderr=True, soft_wrap=True)
out = Console()


def print_error(message: str) -> None:
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False)


def print_warning(message: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)
