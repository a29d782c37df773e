"""Rule files: a valid file loads; every kind of mistake fails naming the file, the rule, the field, the reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streams.rules import default_rules_paths
from streams.tagging import RulesError, load_rules

VALID = """
tag: test-tag
threshold: 2
concepts:
  forces: {en: [troop*, soldiers], ru: [войск~]}
  border: {en: [border*], ru: [границ~]}
rules:
  - id: forces-at-border
    when: {all: [forces, border]}
    weight: 2
    examples:
      match: [Troops gathered at the border.]
      no_match: [Troops paraded in the capital.]
"""


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_valid_file_loads(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, VALID)])
    (tag,) = rules.tags
    assert tag.tag == "test-tag" and tag.threshold == 2 and tag.title_factor == 1.0
    assert [rule.id for rule in tag.rules] == ["forces-at-border"]
    assert {entry.term.text for entry in rules.entries} == {"troop*", "soldiers", "войск~", "border*", "границ~"}


def test_packaged_rules_load() -> None:
    paths = default_rules_paths()
    assert {path.name for path in paths} >= {"nato-russia-talks.yaml", "troop-buildup.yaml"}
    assert {tag.tag for tag in load_rules(paths).tags} == {"nato-russia-talks", "troop-buildup"}


@pytest.mark.parametrize(
    ("old", "new", "where", "field", "reason"),
    [
        (
            "when: {all: [forces, border]}",
            "when: {all: [forces, bordr]}",
            "rule 'forces-at-border'",
            "when.all[1]",
            "unknown concept or pattern 'bordr'",
        ),
        ("[troop*, soldiers]", "[t*, soldiers]", "concept 'forces'", "en[0]", "at least 3 letters"),
        ("ru: [войск~]", "xx: [войск~]", "concept 'forces'", "xx[0]", "'~' needs a language with an inflection list"),
        ("weight: 2\n", "weight: two\n", "rule 'forces-at-border'", "weight", "expected int or float"),
        (
            "no_match: [Troops paraded in the capital.]",
            "no_match: []",
            "rule 'forces-at-border'",
            "examples.no_match",
            "at least one example",
        ),
        ("    when:", "    scope: paragraph\n    when:", "rule 'forces-at-border'", "scope", "must be one of"),
        (
            "    weight: 2",
            "    weight: 2\n    wieght: 3",
            "rule 'forces-at-border'",
            "(rule)",
            "unknown key(s) ['wieght']",
        ),
        ("threshold: 2", "threshold: -1", "tag header", "threshold", "must be positive"),
        (
            "{all: [forces, border]}",
            "{near: [forces], within: 3}",
            "rule 'forces-at-border'",
            "when.near",
            "at least two parts",
        ),
        (
            "{all: [forces, border]}",
            "{near: [forces, border], within: far}",
            "rule 'forces-at-border'",
            "when.within",
            "a positive number of words or 'sentence'",
        ),
        (
            "{all: [forces, border]}",
            "{not: [forces]}",
            "rule 'forces-at-border'",
            "when",
            "at least one concept outside 'not'",
        ),
        (
            "[troop*, soldiers]",
            '[troop*, soldiers, "mid*dle"]',
            "concept 'forces'",
            "en[2]",
            "modifiers go only at the start",
        ),
    ],
)
def test_errors_name_file_rule_field_and_reason(
    tmp_path: Path, old: str, new: str, where: str, field: str, reason: str
) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(RulesError) as raised:
        load_rules([path])
    error = raised.value
    assert error.path == str(path)
    assert error.where == where
    assert error.field == field
    assert reason in error.reason
    assert str(error).startswith(f"{path}: {where}: {field}: ")


def test_invalid_yaml_and_duplicate_keys_name_the_file(tmp_path: Path) -> None:
    broken = write(tmp_path, VALID.replace("threshold: 2", "threshold: [2"), "broken.yaml")
    with pytest.raises(RulesError, match=r"broken\.yaml: file: \(yaml\): not valid YAML"):
        load_rules([broken])
    duplicated = write(tmp_path, VALID.replace("threshold: 2", "threshold: 2\nthreshold: 3"), "dup.yaml")
    with pytest.raises(RulesError, match=r"dup\.yaml: file: \(yaml\): .*duplicate key 'threshold'"):
        load_rules([duplicated])


def test_missing_file_and_two_files_for_one_tag(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="missing.yaml: file: .*cannot read it"):
        load_rules([tmp_path / "missing.yaml"])
    first, second = write(tmp_path, VALID, "a.yaml"), write(tmp_path, VALID, "b.yaml")
    with pytest.raises(RulesError, match="b.yaml: tag header: tag: tag 'test-tag' is defined by two files"):
        load_rules([first, second])


def test_patterns_are_named_conditions(tmp_path: Path) -> None:
    text = VALID.replace("rules:", "patterns:\n  at_border: {all: [forces, border]}\nrules:").replace(
        "when: {all: [forces, border]}", "when: at_border"
    )
    load_rules([write(tmp_path, text)])
    clash = VALID.replace("rules:", "patterns:\n  forces: {all: [border]}\nrules:")
    with pytest.raises(RulesError, match="pattern 'forces': \\(name\\): a concept or an earlier pattern"):
        load_rules([write(tmp_path, clash, "clash.yaml")])
