"""`newswatch collect`, `newswatch feeds sync FILE` and `newswatch feeds status`.

``register(app)`` adds them to the main `newswatch` command (``newswatch/cli.py`` calls it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newswatch.terminal import out, print_error, print_warning

feeds_app = typer.Typer(
    help="The feed registry in Kafka: sync a feeds file into it, show each feed's status.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command("collect")(collect_command)
    app.add_typer(feeds_app, name="feeds")


def _kafka_failure(exc: Exception) -> typer.Exit:
    print_error(
        f"Kafka: {type(exc).__name__}: {exc}\n"
        "fix: check that Kafka runs (`newswatch stack status`) or NEWSWATCH_KAFKA_BOOTSTRAP_SERVERS"
    )
    return typer.Exit(1)


def collect_command(
    feeds: Annotated[
        Path | None,
        typer.Option("--feeds", help="Feeds file (YAML) to sync into the registry before running."),
    ] = None,
) -> None:
    """Run one collector replica until SIGTERM/Ctrl-C (several may run: Kafka divides the feeds)."""
    from collectors.feeds import FeedsFileError
    from collectors.runner import run_collector
    from newswatch.cli import load_settings
    from newswatch.observability import configure_logging

    settings = load_settings()
    log = configure_logging("collector", settings.log_level, settings.log_json)
    # One line per HTTP request and per Kafka connection event would drown the collector's own log.
    for noisy in ("httpx", "httpcore", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        code = asyncio.run(run_collector(settings, log, feeds_file=feeds))
    except FeedsFileError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)


@feeds_app.command("sync")
def sync_command(
    file: Annotated[Path, typer.Argument(help="Feeds file (YAML): a list of feeds with url, name, interval...")],
) -> None:
    """Make the registry equal to FILE: add and update its feeds (they keep their state), remove the others
    (their status is deleted)."""
    from kafka.errors import KafkaError

    from collectors.feeds import FeedsFileError, load_feeds
    from collectors.layout import TopicLayoutError
    from collectors.registry import sync_feeds
    from newswatch.cli import load_settings

    settings = load_settings()
    try:
        feeds = load_feeds(file)
    except FeedsFileError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from exc
    try:
        report = sync_feeds(settings, feeds)
    except TopicLayoutError as exc:
        print_error(str(exc))
        raise typer.Exit(1) from exc
    except KafkaError as exc:
        raise _kafka_failure(exc) from exc
    out.print(report.describe())


@feeds_app.command("status")
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per feed, one per line.")] = False,
) -> None:
    """Each registered feed's last success, last error and next poll (failing feeds first)."""
    from kafka.errors import KafkaError

    from collectors.layout import TopicLayoutError
    from collectors.status_report import read_feed_status, relative
    from newswatch.cli import load_settings

    settings = load_settings()
    try:
        rows, problems = read_feed_status(settings)
    except TopicLayoutError as exc:
        print_error(str(exc))
        raise typer.Exit(1) from exc
    except KafkaError as exc:
        raise _kafka_failure(exc) from exc
    for problem in problems:
        print_warning(problem)
    if as_json:
        for row in rows:
            out.print(json.dumps(row.as_json()), markup=False, highlight=False, soft_wrap=True)
        return
    if not rows:
        out.print("no feeds registered; add some with `newswatch feeds sync FILE`")
        return
    now = datetime.now(UTC)
    table = Table(show_lines=False)
    for column in ("feed", "every", "last success", "last error", "failures", "next poll", "replica"):
        table.add_column(column, overflow="fold")
    for row in rows:
        error = f"{row.last_error} ({relative(row.last_failure_at, now)})" if row.last_error else "-"
        table.add_row(
            f"{row.name}\n[dim]{row.url}[/dim]",
            f"{row.interval}s",
            relative(row.last_success_at, now),
            error,
            str(row.consecutive_failures),
            relative(row.next_poll_at, now) if row.next_poll_at else "not yet scheduled",
            row.owner or "-",
        )
    out.print(table)


def main() -> None:
    """`python -m collectors.cli ...`: the collector commands without the rest of `newswatch`."""
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    register(app)
    app()


if __name__ == "__main__":
    main()
