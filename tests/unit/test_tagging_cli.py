"""`newswatch tag` and `newswatch rules test`, through a local Typer app (the lead wires `register` in)."""

from __future__ import annotations

import json
import os
import textwrap
import threading
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from streams.tag_command import _arrived_batches, register, tag_line
from streams.tagging import Tagger


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:  # a callback keeps "tag" a sub-command even when it is the only one
        pass

    return app


RUNNER = CliRunner()

ARTICLES = [
    {
        "id": "a1",
        "title": "Russia masses troops near Ukraine border",
        "text": "Satellite images show more than 100,000 troops massed at the border.",
        "lang": "en",
    },
    {
        "id": 2,
        "title": "Путин и Макрон провели телефонный разговор",
        "summary": "Президенты обсудили гарантии безопасности и ситуацию вокруг Украины.",
    },
    {"id": "a3", "title": "Wheat prices rise", "text": "Wheat futures rose 2% on strong demand from Egypt."},
]


def lines_of(output: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_tag_reads_stdin_and_keeps_the_order(app: typer.Typer) -> None:
    stdin = "\n".join(json.dumps(article, ensure_ascii=False) for article in ARTICLES) + "\n"
    result = RUNNER.invoke(app, ["tag"], input=stdin)
    assert result.exit_code == 0, result.output
    out = lines_of(result.stdout)
    assert [line["id"] for line in out] == ["a1", 2, "a3"]
    assert out[0]["tags"] == ["troop-buildup"] and out[0]["lang"] == "en"
    assert out[1]["tags"] == ["nato-russia-talks"] and out[1]["lang"] == "ru"  # detected; summary used
    assert out[2]["tags"] == [] and out[2]["evidence"] == {}
    assert set(out[0]["scores"]) == {"nato-russia-talks", "troop-buildup"}
    hit = out[0]["evidence"]["troop-buildup"][0]
    assert set(hit) == {"term", "field", "start", "end", "weight"}
    source = ARTICLES[0][hit["field"]]
    assert isinstance(source, str) and source[hit["start"] : hit["end"]]


def test_malformed_lines_yield_errors_and_the_rest_continue(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    good = json.dumps(ARTICLES[0])
    path.write_bytes(
        "\n".join(
            [
                good,
                "{not json",
                "",
                '["a", "list"]',
                '{"title": "no id"}',
                '{"id": "x", "title": 5}',
                '{"id": "y"}',
                good,
            ]
        ).encode()
        + b"\n\xff\xfe\n"
    )
    result = RUNNER.invoke(app, ["tag", str(path)])
    assert result.exit_code == 0, result.output
    out = lines_of(result.stdout)
    assert out[0]["id"] == "a1" and out[-2]["id"] == "a1"
    errors = [line for line in out if "error" in line]
    assert [error["line"] for error in errors] == [2, 4, 5, 6, 7, 9]
    assert "not valid JSON" in errors[0]["error"]
    assert "expected a JSON object" in errors[1]["error"]
    assert "'id'" in errors[2]["error"]
    assert errors[3] == {"line": 6, "id": "x", "error": "'title' must be a string, got int"}
    assert "nothing to tag" in errors[4]["error"]
    assert "not UTF-8" in errors[5]["error"]


def test_custom_rules_file_and_invalid_rules(app: typer.Typer, tmp_path: Path) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        textwrap.dedent("""
        tag: wheat
        threshold: 1
        concepts: {wheat: {en: [wheat]}}
        rules:
          - id: wheat-named
            when: wheat
            weight: 1
            examples: {match: [Wheat rose.], no_match: [Corn rose.]}
    """),
        encoding="utf-8",
    )
    result = RUNNER.invoke(app, ["tag", "--rules", str(rules)], input=json.dumps(ARTICLES[2]) + "\n")
    assert result.exit_code == 0
    assert lines_of(result.stdout)[0]["tags"] == ["wheat"]

    rules.write_text("tag: wheat\nthreshold: 1\nconcepts: {}\nrules: []\n", encoding="utf-8")
    result = RUNNER.invoke(app, ["tag", "--rules", str(rules)], input="")
    assert result.exit_code == 2
    assert f"{rules}: tag header: rules: a tag needs at least one rule" in result.output


def test_rules_test_passes_on_packaged_rules(app: typer.Typer) -> None:
    result = RUNNER.invoke(app, ["rules", "test"])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output


def test_rules_test_fails_on_a_wrong_example(app: typer.Typer, tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text(
        textwrap.dedent("""
        tag: wheat
        threshold: 1
        concepts: {wheat: {en: [wheat]}}
        rules:
          - id: wheat-named
            when: wheat
            weight: 1
            examples: {match: [Wheat rose., Corn rose.], no_match: [Barley fell.]}
    """),
        encoding="utf-8",
    )
    result = RUNNER.invoke(app, ["rules", "test", "--rules", str(rules)])
    assert result.exit_code == 1
    assert "FAIL wheat wheat-named match   : Corn rose." in result.output
    assert "2/3 examples passed" in result.output


GRAIN_RULES = """
tag: grain
threshold: 3
concepts:
  grain: {en: [wheat, barley]}
  price: {en: [price*]}
  sport: {en: [football, league]}
rules:
  - id: grain-price
    scope: sentence
    when: [grain, price]
    weight: 2
    max_count: 2
    examples: {match: [Wheat prices rose.], no_match: [Wheat grew.]}
vetoes:
  - id: sports-report
    scope: document
    when: sport
    examples: {match: [The football league met.], no_match: [Wheat prices rose.]}
"""


@pytest.fixture
def grain_rules(tmp_path: Path) -> Path:
    path = tmp_path / "grain.yaml"
    path.write_text(textwrap.dedent(GRAIN_RULES), encoding="utf-8")
    return path


def tag_one(app: typer.Typer, rules: Path, article: dict, *options: str) -> dict:  # type: ignore[type-arg]
    result = RUNNER.invoke(app, ["tag", "--rules", str(rules), *options], input=json.dumps(article) + "\n")
    assert result.exit_code == 0, result.output
    [line] = lines_of(result.stdout)
    return line


def test_evidence_names_the_field_the_body_was_read_from(app: typer.Typer, grain_rules: Path) -> None:
    body = "Wheat prices rose. Barley prices fell."
    for body_key, other in (("summary", {}), ("summary", {"text": ""}), ("text", {"summary": "Nothing."})):
        article = {"id": "g", "lang": "en", "title": "Markets", body_key: body, **other}
        out = tag_one(app, grain_rules, article)
        assert out["tags"] == ["grain"]
        hits = out["evidence"]["grain"]
        assert {hit["field"] for hit in hits} == {body_key}
        assert [body[hit["start"] : hit["end"]] for hit in hits] == ["Wheat", "prices", "Barley", "prices"]
    both = tag_one(
        app, grain_rules, {"id": "t", "lang": "en", "title": "Wheat prices rose", "summary": "Barley prices fell."}
    )
    assert [hit["field"] for hit in both["evidence"]["grain"]] == ["title", "title", "summary", "summary"]


def test_explain_gives_evidence_and_vetoes_for_every_tag(app: typer.Typer, grain_rules: Path) -> None:
    near_miss = {"id": "n", "lang": "en", "title": "Markets", "summary": "Wheat prices rose."}
    default = tag_one(app, grain_rules, near_miss)
    assert default == {"id": "n", "lang": "en", "tags": [], "scores": {"grain": 2.0}, "evidence": {}}
    explained = tag_one(app, grain_rules, near_miss, "--explain")
    assert {key: explained[key] for key in default} | {"evidence": {}} == default  # the contract's keys agree
    assert [(hit["term"], hit["field"], hit["weight"]) for hit in explained["evidence"]["grain"]] == [
        ("wheat", "summary", 1.0),
        ("price*", "summary", 1.0),
    ]
    assert explained["vetoes"] == {"grain": []} and explained["requirement_met"] == {"grain": True}

    vetoed = {"id": "v", "lang": "en", "title": "Football league", "text": "Wheat prices rose. Wheat prices fell."}
    default = tag_one(app, grain_rules, vetoed)
    assert default["tags"] == [] and default["scores"] == {"grain": 4.0} and default["evidence"] == {}
    assert "vetoes" not in default
    explained = tag_one(app, grain_rules, vetoed, "--explain")
    assert explained["tags"] == [] and explained["scores"] == {"grain": 4.0}
    assert explained["vetoes"] == {"grain": ["sports-report"]}
    assert len(explained["evidence"]["grain"]) == 4

    nothing = tag_one(
        app, grain_rules, {"id": "z", "lang": "en", "title": "Quiet day", "text": "Nothing."}, "--explain"
    )
    assert nothing["evidence"] == {"grain": []} and nothing["scores"] == {"grain": 0.0}


def test_the_command_reads_a_file_in_batches_with_the_same_output_and_line_numbers(
    app: typer.Typer, tmp_path: Path
) -> None:
    # More lines than a batch, several without "lang" (detected a batch at a time), a blank line and a
    # bad one in the middle, and no newline at the end.
    articles = [{**article, "id": f"{index}-{article['id']}"} for index in range(60) for article in ARTICLES]
    lines = [json.dumps(article, ensure_ascii=False) for article in articles]
    lines[70:70] = ["", "{bad"]
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    result = RUNNER.invoke(app, ["tag", str(path)])
    assert result.exit_code == 0, result.output
    out = lines_of(result.stdout)
    tagger = Tagger.default()
    expected = [tag_line(tagger, line, number) for number, line in enumerate(lines, 1) if line.strip()]
    assert out == expected
    assert out[70] == {
        "line": 72,
        "error": "not valid JSON: Expecting property name enclosed in double quotes (column 2)",
    }
    assert {line["lang"] for line in out if "lang" in line} == {"en", "ru"}


def test_a_batch_does_not_wait_for_more_input_than_has_arrived() -> None:
    reading, writing = os.pipe()
    try:
        with os.fdopen(reading, "rb") as stream:
            batches = _arrived_batches(stream)
            os.write(writing, b'{"id": 1}\n{"id": 2}\n{"id"')
            found: list[list[tuple[int, bytes]]] = []
            reader = threading.Thread(target=lambda: found.append(next(batches)), daemon=True)
            reader.start()
            reader.join(timeout=10)
            assert found == [[(1, b'{"id": 1}\n'), (2, b'{"id": 2}\n')]]  # the pipe is still open
            os.write(writing, b": 3}")
            os.close(writing)
            writing = -1
            assert list(batches) == [[(3, b'{"id": 3}')]]
    finally:
        if writing >= 0:
            os.close(writing)
