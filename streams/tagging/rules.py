"""Loading and validating rule files (YAML), one tag per file.

The format (the packaged files in ``streams/rules/`` are worked examples)::

    tag: troop-buildup
    threshold: 4            # the tag applies when the summed rule weights reach this
    title_factor: 1.5       # a sentence-scope rule matching in the title counts this much more
    concepts:               # named, weighted term lists, per language ("any" = language-independent)
      forces: {en: [troop*, soldiers], ru: [войск~, военнослужащ*]}
      and_word: {only_in_article_language: true, en: [and], pl: [i], es: [y, e]}   # function words
    patterns:               # optional: named conditions, usable wherever a concept name is
      backdrop_clause: {near: [backdrop, massing], within: 4}
    require: {all: [forces]}               # optional: must hold in the document
    rules:
      - id: massing-at-border
        scope: sentence                    # sentence | title | document
        when: {all: [massing, forces, border], not: [withdrawal]}
        weight: 3                          # negative weights express negative context
        max_count: 2                       # count at most two matching sentences
        examples: {match: ["..."], no_match: ["..."]}
    vetoes:                                # any veto that matches blocks the tag
      - {id: sport-report, scope: document, when: {weighted: [sport], threshold: 3}, examples: {...}}
    examples: {match: [...], no_match: [...]}   # whole-tag examples (text, or {title, text})

Conditions (``when``, ``require``, patterns): a concept or pattern name; a list (all of them); or a mapping
of operators, all of which must hold - ``all: [...]``, ``any: [...]``, ``not: [...]`` (none of them may hold
in the scope), ``near: [a, b, ...]`` with ``within: N`` words of the first or ``within: sentence``, and
``weighted: [concepts]`` with ``threshold: X`` (the distinct matched terms' weights add up to X). Term
syntax: `streams.tagging.terms`.

Every error names the file, the rule (or concept), the field and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streams.tagging.conditions import (
    SENTENCE,
    AllOf,
    AnyOf,
    Condition,
    Near,
    NoneOf,
    Ref,
    Weighted,
    positive_concepts,
)
from streams.tagging.matcher import TermEntry, distinct_entries
from streams.tagging.terms import TermError, parse_term

SCOPES = ("sentence", "title", "document")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_LANG_RE = re.compile(r"^(any|[a-z]{2,3})$")
_FILE_KEYS = {
    "tag",
    "description",
    "threshold",
    "title_factor",
    "concepts",
    "patterns",
    "require",
    "rules",
    "vetoes",
    "examples",
}
_RULE_KEYS = {"id", "description", "scope", "when", "weight", "max_count", "examples"}
_VETO_KEYS = _RULE_KEYS - {"weight", "max_count"}
_OPERATORS = {"all", "any", "not", "near", "weighted"}


class RulesError(ValueError):
    """An invalid rule file. The message reads: ``<file>: <rule>: <field>: <reason>``."""

    def __init__(self, path: str, where: str, field: str, reason: str) -> None:
        super().__init__(f"{path}: {where}: {field}: {reason}")
        self.path, self.where, self.field, self.reason = path, where, field, reason


@dataclass(frozen=True, slots=True)
class Example:
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    scope: str
    when: Condition
    weight: float
    max_count: int
    match: tuple[Example, ...]
    no_match: tuple[Example, ...]
    triggers: frozenset[int]  # positive concepts: a scope without any of them is skipped


@dataclass(frozen=True, slots=True)
class TagRules:
    tag: str
    source: str
    description: str
    threshold: float
    title_factor: float
    require: Condition | None
    rules: tuple[Rule, ...]
    vetoes: tuple[Rule, ...]
    match: tuple[Example, ...]
    no_match: tuple[Example, ...]


@dataclass(frozen=True, slots=True)
class RuleSet:
    tags: tuple[TagRules, ...]
    entries: tuple[TermEntry, ...]
    concept_names: tuple[str, ...]  # concept id -> "tag/concept"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML silently keeps the last of two equal keys; an analyst's copy-paste slip must fail instead."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_rules(paths: Iterable[str | Path]) -> RuleSet:
    """Load and validate rule files; raises RulesError (naming file, rule, field, reason) on any problem."""
    entries: list[TermEntry] = []
    names: list[str] = []
    tags: list[TagRules] = []
    for path in paths:
        tag_rules = _load_file(Path(path), entries, names)
        if any(existing.tag == tag_rules.tag for existing in tags):
            raise RulesError(str(path), "tag header", "tag", f"tag {tag_rules.tag!r} is defined by two files")
        tags.append(tag_rules)
    if not tags:
        raise RulesError("(no files)", "rule set", "paths", "no rule files given")
    return RuleSet(tuple(tags), distinct_entries(entries), tuple(names))


def _load_file(path: Path, entries: list[TermEntry], names: list[str]) -> TagRules:
    source = str(path)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except OSError as exc:
        raise RulesError(source, "file", "(file)", f"cannot read it: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise RulesError(source, "file", "(yaml)", f"not valid YAML: {exc}") from exc
    header = _Context(source, "tag header")
    if not isinstance(document, dict):
        header.fail("(top level)", "expected a mapping with tag, threshold, concepts, rules")
    header.no_unknown_keys(document, _FILE_KEYS, "(top level)")
    tag = header.require(document, "tag", str)
    if not _TAG_RE.match(tag):
        header.fail("tag", f"{tag!r} must be lowercase letters, digits and dashes (e.g. troop-buildup)")
    threshold = float(header.require(document, "threshold", (int, float)))
    if threshold <= 0:
        header.fail("threshold", f"must be positive, got {threshold}")
    title_factor = float(header.optional(document, "title_factor", (int, float), 1.0))
    concepts = _load_concepts(source, header.require(document, "concepts", dict), entries, names, tag)
    names_in_scope: dict[str, Condition] = {name: Ref(concept) for name, concept in concepts.items()}
    for name, raw in (header.optional(document, "patterns", dict, {}) or {}).items():
        context = _Context(source, f"pattern {name!r}")
        if name in names_in_scope:
            context.fail("(name)", "a concept or an earlier pattern already has this name")
        names_in_scope[str(name)] = _condition(raw, names_in_scope, context, "(condition)")
    require = None
    if "require" in document:
        require = _condition(document["require"], names_in_scope, header, "require")
    rules = _load_rules(source, document.get("rules"), names_in_scope, veto=False)
    vetoes = _load_rules(source, document.get("vetoes") or [], names_in_scope, veto=True)
    if not rules:
        header.fail("rules", "a tag needs at least one rule")
    match, no_match = _examples(header, document.get("examples", {}), "examples", required=False)
    return TagRules(
        tag=tag,
        source=source,
        description=str(document.get("description", "")).strip(),
        threshold=threshold,
        title_factor=title_factor,
        require=require,
        rules=rules,
        vetoes=vetoes,
        match=match,
        no_match=no_match,
    )


def _load_concepts(
    source: str, raw: dict[str, Any], entries: list[TermEntry], names: list[str], tag: str
) -> dict[str, int]:
    ids: dict[str, int] = {}
    for name, by_language in raw.items():
        context = _Context(source, f"concept {name!r}")
        if not isinstance(by_language, dict) or not by_language:
            context.fail("terms", "expected a mapping of language code to a list of terms, e.g. {en: [troops]}")
        concept_id = len(names)
        names.append(f"{tag}/{name}")
        ids[str(name)] = concept_id
        article_language_only = by_language.get("only_in_article_language", False)
        if not isinstance(article_language_only, bool):
            context.fail("only_in_article_language", f"must be true or false, got {article_language_only!r}")
        for lang, terms in by_language.items():
            if lang in ("note", "only_in_article_language"):
                continue
            if not isinstance(lang, str) or not _LANG_RE.match(lang):
                context.fail(str(lang), "a language key is an ISO 639 code (en, ru, uk...) or 'any'")
            if not isinstance(terms, list) or not terms:
                context.fail(lang, "expected a non-empty list of terms")
            for index, raw_term in enumerate(terms):
                term = _term(raw_term, lang, context, f"{lang}[{index}]")
                entries.append(TermEntry(concept_id, term, article_language_only and lang != "any"))
    return ids


def _term(raw: Any, lang: str, context: _Context, field: str) -> Any:
    try:
        if isinstance(raw, str):
            return parse_term(raw, lang)
        if isinstance(raw, dict):
            context.no_unknown_keys(raw, {"term", "weight", "case"}, field)
            text = context.require(raw, "term", str, field)
            case = raw.get("case", "fold")
            if case not in ("fold", "exact"):
                context.fail(f"{field}.case", f"must be 'fold' or 'exact', got {case!r}")
            weight = context.optional(raw, "weight", (int, float), None, field)
            return parse_term(text, lang, weight=weight, exact_case=case == "exact")
    except TermError as exc:
        context.fail(field, str(exc))
    context.fail(field, f"a term is a string or {{term: ..., weight: ..., case: exact}}, got {raw!r}")


def _load_rules(source: str, raw: Any, concepts: dict[str, Condition], *, veto: bool) -> tuple[Rule, ...]:
    kind = "veto" if veto else "rule"
    if not isinstance(raw, list):
        _Context(source, "tag header").fail(f"{kind}s", "expected a list of rules")
    rules: list[Rule] = []
    for index, item in enumerate(raw):
        rule_id = item.get("id") if isinstance(item, dict) else None
        context = _Context(source, f"{kind} {rule_id!r}" if rule_id else f"{kind} #{index + 1}")
        if not isinstance(item, dict):
            context.fail("(rule)", "expected a mapping with id, when, weight, examples")
        context.no_unknown_keys(item, _VETO_KEYS if veto else _RULE_KEYS, "(rule)")
        rule_id = context.require(item, "id", str)
        if any(rule.id == rule_id for rule in rules):
            context.fail("id", "two rules of this file have this id")
        scope = context.optional(item, "scope", str, SENTENCE)
        if scope not in SCOPES:
            context.fail("scope", f"must be one of {', '.join(SCOPES)}, got {scope!r}")
        when = _condition(context.require(item, "when", (str, dict, list)), concepts, context, "when")
        triggers = positive_concepts(when)
        if not triggers:
            context.fail("when", "needs at least one concept outside 'not' (what would it point at?)")
        weight = 0.0 if veto else float(context.require(item, "weight", (int, float)))
        max_count = 1 if veto else int(context.optional(item, "max_count", int, 1))
        if max_count < 1:
            context.fail("max_count", f"must be at least 1, got {max_count}")
        match, no_match = _examples(context, context.require(item, "examples", dict), "examples", required=True)
        rules.append(
            Rule(
                rule_id,
                str(item.get("description", "")).strip(),
                scope,
                when,
                weight,
                max_count,
                match,
                no_match,
                triggers,
            )
        )
    return tuple(rules)


def _condition(raw: Any, concepts: dict[str, Condition], context: _Context, field: str) -> Condition:
    """Compile the YAML form of a condition; a mapping with several operators is their conjunction.

    `concepts` maps every name usable here (concepts and patterns) to its compiled condition.
    """
    if isinstance(raw, str):
        if raw not in concepts:
            context.fail(field, f"unknown concept or pattern {raw!r}; this file defines: {', '.join(sorted(concepts))}")
        return concepts[raw]
    if isinstance(raw, list):
        return AllOf(tuple(_condition(part, concepts, context, f"{field}[{i}]") for i, part in enumerate(raw)))
    if not isinstance(raw, dict) or not (set(raw) & _OPERATORS):
        context.fail(field, f"a condition is a concept name or a mapping with one of {sorted(_OPERATORS)}")
    context.no_unknown_keys(raw, _OPERATORS | {"within", "threshold"}, field)
    parts: list[Condition] = []
    for operator in ("all", "any", "not", "near", "weighted"):
        if operator not in raw:
            continue
        where = f"{field}.{operator}"
        value = raw[operator]
        items = value if isinstance(value, list) else [value]
        if not items:
            context.fail(where, "empty list")
        if operator == "weighted":
            parts.append(_weighted(raw, items, concepts, context, where))
            continue
        compiled = tuple(_condition(item, concepts, context, f"{where}[{i}]") for i, item in enumerate(items))
        if operator == "all":
            parts.append(AllOf(compiled))
        elif operator == "any":
            parts.append(AnyOf(compiled))
        elif operator == "not":
            parts.append(NoneOf(compiled))
        else:
            parts.append(_near(raw, compiled, context, where))
    if "within" in raw and "near" not in raw:
        context.fail(f"{field}.within", "'within' only goes with 'near'")
    if "threshold" in raw and "weighted" not in raw:
        context.fail(f"{field}.threshold", "'threshold' only goes with 'weighted'")
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _near(raw: dict[str, Any], parts: tuple[Condition, ...], context: _Context, where: str) -> Near:
    if len(parts) < 2:
        context.fail(where, "'near' needs at least two parts")
    if any(isinstance(part, NoneOf) for part in parts):
        context.fail(where, "a 'not' cannot be a part of 'near'; put it next to the 'near' instead")
    within = raw.get("within", SENTENCE)
    if within != SENTENCE and not (isinstance(within, int) and within > 0):
        context.fail(where.rsplit(".", 1)[0] + ".within", f"a positive number of words or 'sentence', got {within!r}")
    return Near(parts, within)


def _weighted(
    raw: dict[str, Any], items: list[Any], concepts: dict[str, Condition], context: _Context, where: str
) -> Weighted:
    unknown = [item for item in items if not isinstance(item, str) or not isinstance(concepts.get(item), Ref)]
    if unknown:
        context.fail(where, f"'weighted' lists concept names (not patterns); unknown: {unknown}")
    threshold = raw.get("threshold")
    if not isinstance(threshold, int | float) or threshold <= 0:
        field = where.rsplit(".", 1)[0] + ".threshold"
        context.fail(field, f"'weighted' needs a positive threshold, got {threshold!r}")
    return Weighted(tuple(concepts[item].concept for item in items), float(threshold))  # type: ignore[union-attr]


def _examples(
    context: _Context, raw: Any, field: str, *, required: bool
) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    if not isinstance(raw, dict):
        context.fail(field, "expected {match: [...], no_match: [...]}")
    context.no_unknown_keys(raw, {"match", "no_match"}, field)
    lists = []
    for key in ("match", "no_match"):
        items = raw.get(key) or []
        if not isinstance(items, list) or (required and not items):
            context.fail(f"{field}.{key}", "needs a list of at least one example sentence")
        lists.append(tuple(_example(item, context, f"{field}.{key}[{i}]") for i, item in enumerate(items)))
    return lists[0], lists[1]


def _example(raw: Any, context: _Context, field: str) -> Example:
    if isinstance(raw, str) and raw.strip():
        return Example("", raw)
    if isinstance(raw, dict):
        context.no_unknown_keys(raw, {"title", "text"}, field)
        title, text = raw.get("title", ""), raw.get("text", "")
        if isinstance(title, str) and isinstance(text, str) and (title or text):
            return Example(title, text)
    context.fail(field, f"an example is a sentence or {{title: ..., text: ...}}, got {raw!r}")


@dataclass(frozen=True, slots=True)
class _Context:
    """Where we are in a file, so every error can say so."""

    source: str
    where: str

    def fail(self, field: str, reason: str) -> Any:
        raise RulesError(self.source, self.where, field, reason)

    def no_unknown_keys(self, raw: Mapping[str, Any], allowed: set[str], field: str) -> None:
        unknown = sorted(str(key) for key in raw if key not in allowed)
        if unknown:
            self.fail(field, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")

    def require(self, raw: Mapping[str, Any], key: str, kind: Any, field: str | None = None) -> Any:
        if key not in raw:
            self.fail(f"{field}.{key}" if field else key, "is required")
        return self.optional(raw, key, kind, None, field)

    def optional(self, raw: Mapping[str, Any], key: str, kind: Any, default: Any, field: str | None = None) -> Any:
        if key not in raw:
            return default
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            self.fail(f"{field}.{key}" if field else key, f"expected {names}, got {value!r}")
        return value
