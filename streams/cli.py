"""`newswatch streams`: run the Faust worker (several may run; Kafka partitions divide the work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("streams")(streams_command)


def streams_command(
    web_port: int | None = typer.Option(None, help="Port of /health and /metrics (default: the setting)."),
) -> None:
    """Run the Faust worker: news.raw -> language, tags, places, entities, stories -> news.tagged."""
    import faust

    from newswatch.cli import load_settings
    from newswatch.topics import ensure_pipeline_topics
    from streams.app import create_app

    settings = load_settings()
    ensure_pipeline_topics(settings)
    app = create_app(settings, web_port=web_port)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
