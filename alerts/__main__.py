"""`python -m alerts alert|alerts ...`: the alert commands without the rest of the `newswatch` CLI."""

from __future__ import annotations

import typer

from alerts.cli import register

app = typer.Typer(help="newswatch alerts", no_args_is_help=True, pretty_exceptions_enable=False)
register(app)

if __name__ == "__main__":
    app()
