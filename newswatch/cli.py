"""The `newswatch` command: one console script for every stage and for the local stack."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from newswatch.settings import Settings, SettingsError
from newswatch.terminal import console, out, print_error

app = typer.Typer(
    help="newswatch: streaming news monitoring (feeds -> Kafka -> Faust -> Elasticsearch -> alerts).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
stack_app = typer.Typer(help="Run the local Kafka + Elasticsearch on loopback.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")


def load_settings() -> Settings:
    try:
        return Settings.load()
    except SettingsError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from exc


@contextmanager
def _stack_failures_exit() -> Iterator[None]:
    """A failure of the local stack ends the command with its one clear error (it names the log and the
    fix) and exit code 1, never a traceback."""
    from newswatch.stack.artifacts import ArtifactError
    from newswatch.stack.errors import StackError
    from newswatch.stack.jdk import JdkNotFound

    try:
        yield
    except (StackError, ArtifactError, JdkNotFound) as exc:
        print_error(str(exc))  # escaped: log lines such as "[warning][os]" are the message, not markup
        raise typer.Exit(1) from exc


def _stack(settings: Settings):  # type: ignore[no-untyped-def]
    from newswatch.stack.local import LocalStack
    from newswatch.stack.progress import wait_display

    def say(message: str) -> None:
        console.print(f"[dim]…[/dim] {escape(message)}")

    # While `up` waits for health: a live line with each service's seconds on a terminal, else a
    # plain line every few seconds.
    return LocalStack(settings, progress=say, waiting=wait_display(console, say, settings.stack_start_timeout))


def print_status(statuses) -> bool:  # type: ignore[no-untyped-def]
    """One block per service: what runs where, its health, and what the server says about itself."""
    healthy = True
    for status in statuses:
        healthy &= status.healthy
        if status.probe is None:
            health = "[red]stopped[/red]"
        elif status.probe.healthy:
            health = "[green]healthy[/green]"
        else:
            health = f"[red]unhealthy[/red] ({status.probe.error})"
        table = Table(show_header=False, box=None, padding=(0, 1))
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        table.add_row("health", health)
        table.add_row("mode", status.mode)
        table.add_row("endpoint", status.endpoint)
        if status.mode == "local":
            table.add_row("pid", str(status.pid or "-"))
            table.add_row("log", str(status.log))
        for key, value in (status.probe.facts if status.probe else {}).items():
            table.add_row(key, str(value))
        out.print(f"[bold]{status.name}[/bold]")
        out.print(table)
    return healthy


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@stack_app.command("up")
def stack_up() -> None:
    """Start Kafka and Elasticsearch (downloading them once), wait until healthy. Harmless if running."""
    settings = load_settings()
    # SIGTERM (a supervisor, `timeout`) interrupts like Ctrl-C, so a half-started stack is stopped again.
    signal.signal(signal.SIGTERM, _interrupt)
    with _stack_failures_exit():
        statuses = _stack(settings).up()
    print_status(statuses)


@stack_app.command("down")
def stack_down() -> None:
    """Stop the processes `stack up` started: SIGTERM, then SIGKILL after NEWSWATCH_STACK_STOP_TIMEOUT."""
    with _stack_failures_exit():
        outcome = _stack(load_settings()).down()
    for name, result in outcome.items():
        out.print(f"{name}: {result}")


@stack_app.command("status")
def stack_status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show each service's pid, port, health and the versions the servers report. Exit 1 if unhealthy."""
    statuses = _stack(load_settings()).status()
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "service": s.name,
                        "mode": s.mode,
                        "endpoint": s.endpoint,
                        "pid": s.pid,
                        "healthy": s.healthy,
                        "facts": s.probe.facts if s.probe else {},
                        "error": s.probe.error if s.probe else "not running",
                    }
                    for s in statuses
                ]
            )
        )
        healthy = all(s.healthy for s in statuses)
    else:
        healthy = print_status(statuses)
    raise typer.Exit(0 if healthy else 1)


@stack_app.command("logs")
def stack_logs(
    service: Annotated[str | None, typer.Argument(help="kafka or elasticsearch (default: both)")] = None,
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines from the end.")] = 40,
) -> None:
    """Print the last lines of the local services' logs, with their paths."""
    from newswatch.stack.process import tail

    files = _stack(load_settings()).log_files()
    if service is not None and service not in files:
        print_error(f"unknown service {service!r}; choose one of {', '.join(files)}")
        raise typer.Exit(2)
    for name, paths in files.items():
        if service in (None, name):
            for path in paths:
                out.rule(f"{name}: {path}")
                out.print(tail(path, lines), markup=False, highlight=False)


@stack_app.command("reset")
def stack_reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop the stack and delete all its data (topics, indices, logs). Downloads are kept."""
    settings = load_settings()
    if not yes and not typer.confirm(f"Delete all Kafka and Elasticsearch data under {settings.state_dir}?"):
        raise typer.Exit(1)
    with _stack_failures_exit():  # something could not be stopped: nothing was deleted
        _stack(settings).reset()
    out.print("local stack data deleted")


@app.command("settings")
def show_settings(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the README's table of all settings.")] = False,
) -> None:
    """Show every setting with its variable and current value (secrets masked)."""
    from newswatch.settings import Settings as SettingsClass

    if markdown:
        out.print(settings_table_markdown(SettingsClass), markup=False, highlight=False, soft_wrap=True)
        return
    settings = load_settings()
    for name, value in settings.model_dump().items():
        out.print(f"NEWSWATCH_{name.upper()}={'' if value is None else value}", markup=False, highlight=False)


def settings_table_markdown(settings_class) -> str:  # type: ignore[no-untyped-def]
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in settings_class.model_fields.items():
        if field.default_factory is not None:
            default = "(see meaning)"
        else:
            default = "unset" if field.default is None else f"`{field.default}`"
        rows.append(f"| `NEWSWATCH_{name.upper()}` | {default} | {field.description or ''} |")
    return "\n".join(rows)


@app.command("run")
def run_command(
    feeds: Annotated[Path | None, typer.Option(help="Feeds file (YAML). Default: the bundled demo feeds.")] = None,
    rules: Annotated[Path | None, typer.Option(help="Alert rules file. Default: the shipped rules.")] = None,
    duration: Annotated[
        str | None, typer.Option("--for", help="Stop after 90s, 10m, 2h ... (default: Ctrl-C).")
    ] = None,
) -> None:
    """The main job: stack, collector, Faust worker, indexer and alerter, with a live view."""
    from indexers.search import parse_duration
    from newswatch.run.command import run_pipeline

    for path, what in ((feeds, "--feeds"), (rules, "--rules")):
        if path is not None and not path.is_file():
            print_error(f"{what} {path}: no such file")
            raise typer.Exit(2)
    try:
        seconds = parse_duration(duration).total_seconds() if duration else None
    except ValueError as exc:
        print_error(f"--for: {exc}")
        raise typer.Exit(2) from exc
    raise typer.Exit(run_pipeline(load_settings(), feeds, rules, seconds, out))


def _register_stage_commands() -> None:
    from alerts.cli import register as register_alerts
    from collectors.cli import register as register_collectors
    from indexers.cli import register as register_indexer
    from streams.cli import register as register_streams
    from streams.tag_command import register as register_tagging

    register_collectors(app)
    register_streams(app)
    register_tagging(app)
    register_indexer(app)
    register_alerts(app)


_register_stage_commands()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
