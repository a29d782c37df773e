"""CLI: ``newswatch tag`` (tag JSON Lines articles) and ``newswatch rules test`` (run the rules' examples).

Wired into the main app by ``register(app)``::

    newswatch tag [--rules FILE]... [--explain] [FILE]   # JSON Lines in (FILE or stdin), JSON Lines out, same order
    newswatch rules test [--rules FILE]...     # exit 1 if any rule example fails

Input lines are objects with ``id``, ``title``, ``text`` (or ``summary``) and optionally ``lang``. Each output
line has ``id``, ``lang``, ``tags``, ``scores`` and ``evidence`` (tag -> [{term, field, start, end, weight}],
offsets into the input's ``title``, or into ``text`` or ``summary``, whichever the body was read from: the
evidence's ``field`` names it). ``evidence`` lists the applied tags only. With ``--explain`` it lists every tag
the rules know (what matched, applied or not), and ``vetoes`` (tag -> ids of the veto rules that matched)
and ``requirement_met`` (tag -> whether its ``require`` condition held) are added. Explaining evaluates every
rule in full, so a tag with only negative context matched shows that negative score where the default output
shows 0 (it skips tags none of whose positive rules can hold); ``tags`` are the same. A line that cannot be
tagged produces
``{"line": N, "id": ... (if known), "error": "..."}`` and the following lines are still processed; the exit
status stays 0 because the errors are reported in the output stream, where the consumer reads them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from streams.tagging import RulesError, Tagger, TaggingResult, TagHit
from streams.tagging.engine import TEXT  # what the tagger calls its second argument, whichever field that was
from streams.tagging.examples import format_report, run_examples

RulesOption = Annotated[
    list[Path] | None,
    typer.Option("--rules", metavar="FILE", help="Rule file (YAML); repeat for several. Default: the packaged rules."),
]


def register(app: typer.Typer) -> None:
    """Add ``tag`` and the ``rules`` sub-app (``rules test``) to the main Typer app."""
    app.command("tag", help="Tag JSON Lines articles (id, title, text|summary, lang?) from FILE or stdin.")(tag)
    rules_app = typer.Typer(help="Work with tagging rule files.", no_args_is_help=True)
    rules_app.command("test", help="Run every rule's own examples; exit 1 on any failure.")(rules_test)
    app.add_typer(rules_app, name="rules")


def tag(
    file: Annotated[
        Path | None,
        typer.Argument(metavar="FILE", help="JSON Lines input; stdin when omitted.", exists=True, dir_okay=False),
    ] = None,
    rules: RulesOption = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Evidence for every tag (not only the applied ones), plus the vetoes and requirements. Slower.",
        ),
    ] = False,
) -> None:
    tagger = _load_tagger(rules)
    out = sys.stdout
    with _input_lines(file) as lines:
        for batch in _arrived_batches(lines):
            for output_line in tag_batch(tagger, batch, explain=explain):
                out.write(output_line)
    out.flush()


def tag_lines(tagger: Tagger, lines: Iterable[bytes], *, explain: bool = False) -> Iterator[str]:
    """The command's whole transformation: input lines in, output JSON lines (with their newline) out.

    Blank lines are skipped but still counted, so error objects carry the input's line numbers. Lines are
    taken `BATCH_LINES` at a time (see `tag_batch`).
    """
    for batch in _numbered_batches(lines):
        yield from tag_batch(tagger, batch, explain=explain)


def _numbered_batches(lines: Iterable[bytes]) -> Iterator[list[tuple[int, bytes]]]:
    """(line number, line) pairs, `BATCH_LINES` at a time."""
    numbered = iter(enumerate(lines, 1))
    while batch := list(islice(numbered, BATCH_LINES)):
        yield batch


# json.dumps(output, ensure_ascii=False), without the check for circular references (a tenth of the
# encoding time; the output is built from parsed JSON and the tagger's results, which cannot be circular).
_encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode

# Lines tagged together: the articles without a language are identified one after the other before any
# is tagged, so the language model's tables stay in the CPU cache (a call costs ~40 µs then, ~75 µs when
# tagging runs between calls). Small enough that a batch is a few hundred KB of input at most.
BATCH_LINES = 64


def tag_batch(tagger: Tagger, batch: Iterable[tuple[int, bytes]], *, explain: bool = False) -> Iterator[str]:
    """Output lines for (line number, raw line) pairs, in their order: `tag_line` for each, identically."""
    parsed: list[tuple[int, dict[str, Any] | _Article]] = []
    for line_number, raw in batch:
        if line_number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark from Windows tools
        if not raw.strip():
            continue
        parsed.append((line_number, _parse_line(raw, line_number)))
    unknown = [item for _, item in parsed if isinstance(item, _Article) and not item.lang]
    if unknown:
        from streams.language import detect_languages  # loads the language model on first use

        for article, lang in zip(
            unknown, detect_languages([article.language_sample for article in unknown]), strict=True
        ):
            article.lang = lang
    for _, item in parsed:
        output = item if isinstance(item, dict) else item.tag(tagger, explain)
        yield _encode(output) + "\n"


def rules_test(
    rules: RulesOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List passing examples too.")] = False,
) -> None:
    tagger = _load_tagger(rules)
    results = run_examples(tagger)
    typer.echo(format_report(results, verbose=verbose))
    if any(not result.passed for result in results):
        raise typer.Exit(code=1)


def tag_line(tagger: Tagger, raw: bytes | str, line_number: int, *, explain: bool = False) -> dict[str, Any]:
    """Tag one input line; never raises for bad input (returns the error object instead)."""
    item = _parse_line(raw, line_number)
    return item if isinstance(item, dict) else item.tag(tagger, explain)


class _Article:
    """A valid input line, ready to tag; `lang` is "" until given or detected."""

    __slots__ = ("body", "body_field", "id", "lang", "title")

    def __init__(self, article: dict[str, Any]) -> None:
        self.id = article["id"]
        self.title: str = article.get("title") or ""
        # The same choice as the pipeline (streams.enrich.body_of): the text, else the summary.
        text = article.get("text")
        self.body_field, self.body = ("text", text) if text else ("summary", article.get("summary") or "")
        self.lang: str = article.get("lang") or ""

    @property
    def language_sample(self) -> str:
        """What the tagger identifies the language from when none is given (see Tagger.tag)."""
        return f"{self.title}\n{self.body}"

    def tag(self, tagger: Tagger, explain: bool) -> dict[str, Any]:
        result = tagger.tag(self.title, self.body, lang=self.lang or None, explain=explain)
        return {"id": self.id, **result_to_json(result, body_field=self.body_field, explain=explain)}


def _parse_line(raw: bytes | str, line_number: int) -> dict[str, Any] | _Article:
    """The article of one input line, or the error object for it."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        article = json.loads(text)
    except UnicodeDecodeError as exc:
        return {"line": line_number, "error": f"not UTF-8: {exc.reason} at byte {exc.start}"}
    except json.JSONDecodeError as exc:
        return {"line": line_number, "error": f"not valid JSON: {exc.msg} (column {exc.colno})"}
    if not isinstance(article, dict):
        return {"line": line_number, "error": f"expected a JSON object, got {type(article).__name__}"}
    problem = _validate(article)
    if problem:
        error: dict[str, Any] = {"line": line_number, "error": problem}
        article_id = article.get("id")
        if isinstance(article_id, str | int) and not isinstance(article_id, bool):
            error["id"] = article_id
        return error
    return _Article(article)


def result_to_json(result: TaggingResult, *, body_field: str = "text", explain: bool = False) -> dict[str, Any]:
    """The output object (without ``id``). `body_field` names the input field the tagger's text came from."""
    if not explain:
        return {
            "lang": result.lang,
            "tags": list(result.tags),
            "scores": result.scores,
            "evidence": {tag: _evidence_json(hits, body_field) for tag, hits in result.evidence.items()},
        }
    decisions = result.decisions
    return {
        "lang": result.lang,
        "tags": list(result.tags),
        "scores": result.scores,
        "evidence": {decision.tag: _evidence_json(decision.evidence, body_field) for decision in decisions},
        "vetoes": {decision.tag: list(decision.vetoed_by) for decision in decisions},
        "requirement_met": {decision.tag: decision.requirement_met for decision in decisions},
    }


def _evidence_json(hits: Iterable[TagHit], body_field: str) -> list[dict[str, Any]]:
    # Built by hand: dataclasses.asdict deep-copies field by field, and was a fifth of the command's time.
    return [
        {
            "term": hit.term,
            "field": body_field if hit.field == TEXT else hit.field,
            "start": hit.start,
            "end": hit.end,
            "weight": hit.weight,
        }
        for hit in hits
    ]


def _validate(article: dict[str, Any]) -> str | None:
    article_id = article.get("id")
    if article_id is None or isinstance(article_id, bool) or not isinstance(article_id, str | int):
        return "missing or invalid 'id' (a string or integer is required)"
    for key in ("title", "text", "summary", "lang"):
        value = article.get(key)
        if value is not None and not isinstance(value, str):
            return f"'{key}' must be a string, got {type(value).__name__}"
    if not any(article.get(key) for key in ("title", "text", "summary")):
        return "nothing to tag: give 'title' and 'text' (or 'summary')"
    return None


def _load_tagger(rules: list[Path] | None) -> Tagger:
    try:
        return Tagger.from_paths(rules) if rules else Tagger.default()
    except RulesError as exc:
        typer.echo(f"error: invalid rules: {exc}", err=True)
        raise typer.Exit(code=2) from exc


def _arrived_batches(stream: Iterable[bytes]) -> Iterator[list[tuple[int, bytes]]]:
    """(line number, line) batches of at most `BATCH_LINES`, each of the lines that have arrived: a batch
    never waits for more input while it has a complete line, so a slow producer on a pipe gets each
    article tagged as soon as it is written. Lines keep their newline, as iterating the stream gives them.
    """
    try:
        descriptor = stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # not a real file (a test's in-memory stream)
        yield from _numbered_batches(stream)
        return
    number, pending = 0, b""
    while chunk := os.read(descriptor, 1 << 16):
        *complete, pending = (pending + chunk).split(b"\n")
        for first in range(0, len(complete), BATCH_LINES):
            batch = []
            for line in complete[first : first + BATCH_LINES]:
                number += 1
                batch.append((number, line + b"\n"))
            yield batch
    if pending:
        yield [(number + 1, pending)]


@contextmanager
def _input_lines(path: Path | None) -> Iterator[Iterable[bytes]]:
    """Binary lines of FILE or stdin, so each line is decoded (and can fail) on its own."""
    if path is None:
        yield click.get_binary_stream("stdin")
        return
    with path.open("rb") as stream:
        yield stream
