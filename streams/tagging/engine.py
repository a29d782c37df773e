"""The tagger: find every term once, then score each tag's rules over sentences, title and document.

Scoring, per tag:

* a ``sentence`` rule is evaluated in every sentence (the title is one sentence) and adds its weight for
  each sentence where it holds, up to ``max_count`` sentences (title first); a match in the title counts
  ``title_factor`` times;
* a ``title`` rule looks at the title only, a ``document`` rule at everything, and each adds its weight once;
* the tag applies when the score reaches the threshold, the ``require`` condition holds and no veto matches.

Pure: the only I/O is reading the rule files when the tagger is built (and the language model on first
use when the caller gives no language).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from streams import native as native_module
from streams.tagging.conditions import (
    AllOf,
    AnyOf,
    Condition,
    ConditionCompiler,
    Evaluator,
    Hit,
    Memo,
    Near,
    NoneOf,
    Ref,
    Scope,
    Weighted,
    necessary_concepts,
)
from streams.tagging.matcher import Matcher, RawHit
from streams.tagging.model import RuleScore, TagDecision, TaggingResult, TagHit
from streams.tagging.normalize import ABBREVIATIONS, Normalized, normalize, sentence_starts, separable_folds
from streams.tagging.rules import Rule, RuleSet, TagRules, load_rules

TITLE, TEXT = "title", "text"
_Unit = tuple[str, int]  # (field, sentence index): one sentence-scope unit
_Span = tuple[str, int, int]  # (field, start, end) in folded coordinates


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    run: Evaluator
    necessary: tuple[int, ...]  # concept bitmasks: the scope must contain a concept of each


@dataclass(frozen=True, slots=True)
class _CompiledTag:
    spec: TagRules
    rules: tuple[_CompiledRule, ...]
    vetoes: tuple[_CompiledRule, ...]
    require: Evaluator | None


def _mask(concepts: Iterable[int]) -> int:
    mask = 0
    for concept in concepts:
        mask |= 1 << concept
    return mask


def _possible(rule: _CompiledRule, scope_mask: int) -> bool:
    """The cheap pre-check: can the rule hold in a scope with these concepts at all?"""
    return _has_each(rule.necessary, scope_mask)


def _has_each(necessary: tuple[int, ...], scope_mask: int) -> bool:
    """Whether the scope has a concept of each of these masks."""
    for mask in necessary:
        if not mask & scope_mask:
            return False
    return True


class _Document:
    """One article's hits, grouped the ways the rules look at them (built once, shared by all tags).

    Each scope (a sentence of the text, the title, the whole document) maps concept -> hits and has a
    bitmask of the concepts it contains, for the rules' pre-check.
    """

    def __init__(self, fields: dict[str, Normalized], lang: str) -> None:
        self.fields = fields
        self.lang = lang
        self.all: dict[int, list[Hit]] = {}
        self.units: dict[_Unit, dict[int, list[Hit]]] = {}
        self.memos: dict[object, Memo] = {}  # per scope (a unit, "title" or "all"), shared by all tags

    def finish(self) -> _Document:
        self.units = {unit: scope for unit, scope in self.units.items() if scope}  # drop empty sentences
        self.masks = {unit: _mask(scope) for unit, scope in self.units.items()}
        self.all_mask = _mask(self.all)
        self.title = self.units.get((TITLE, 0), {})  # the title is one sentence
        self.title_mask = self.masks.get((TITLE, 0), 0)
        # Title first, so max_count keeps the title match and its factor.
        self.unit_order = sorted(self.units, key=lambda unit: (unit[0] != TITLE, unit))
        return self

    def memo(self, scope_key: object) -> Memo:
        memo = self.memos.get(scope_key)
        if memo is None:
            memo = self.memos[scope_key] = {}
        return memo


class Tagger:
    """Applies a rule set to articles. Build once (`default()` or `from_paths`), then call `tag` freely.

    With the compiled extension installed (see `streams.native`) the hits are positioned and the rules
    evaluated by its ``TagEngine``, the twin of this module's Python code (identical results, compared
    by tests/unit/test_tagging_native.py); ``native=False`` forces the Python code, matcher included.
    """

    def __init__(self, rules: RuleSet, *, native: bool = True) -> None:
        self.rules = rules
        self._matcher = Matcher(rules.entries, native=native)
        self._entry_terms = [
            (entry.concept, entry.term.text, entry.term.lang, entry.term.weight, entry.article_language_only)
            for entry in rules.entries
        ]
        self._entry_text = [entry.term.text for entry in rules.entries]
        # The concepts behind each group of entries the matcher reports together, as a bitmask.
        self._entries_mask = {
            entries: _mask(rules.entries[entry].concept for entry in entries) for entries in self._matcher.entry_groups
        }
        compiler = ConditionCompiler()

        def compiled(rule: Rule) -> _CompiledRule:
            necessary = tuple(_mask(concepts) for concepts in necessary_concepts(rule.when))
            return _CompiledRule(rule, compiler.compile(rule.when), necessary)

        self._tags = tuple(
            _CompiledTag(
                spec,
                tuple(compiled(rule) for rule in spec.rules),
                tuple(compiled(veto) for veto in spec.vetoes),
                compiler.compile(spec.require) if spec.require is not None else None,
            )
            for spec in rules.tags
        )
        # What each rule that can add to a score needs (see _could_score), all tags together.
        self._scoring_needs = tuple(rule.necessary for tag in self._tags for rule in tag.rules if rule.rule.weight > 0)
        self._native: Any = _native_engine(self._matcher, self._tags, self._entry_terms) if native else None

    @property
    def native(self) -> bool:
        """Whether the compiled engine evaluates the rules (else the Python code of this module)."""
        return self._native is not None

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path], *, native: bool = True) -> Tagger:
        return cls(load_rules(paths), native=native)

    @classmethod
    def default(cls, *, native: bool = True) -> Tagger:
        from streams.rules import default_rules_paths

        return cls.from_paths(default_rules_paths(), native=native)

    @property
    def tag_names(self) -> tuple[str, ...]:
        return tuple(tag.tag for tag in self.rules.tags)

    def tag(self, title: str, text: str, lang: str | None = None, *, explain: bool = False) -> TaggingResult:
        """Tag one article. `lang` (ISO 639-1) is detected from the title and text when not given.

        Evidence is always built for the tags that apply; `explain=True` builds it for the others too
        (what matched, and why it was not enough), which costs time on the hot path.
        """
        lang = lang or _detect(title, text)
        if self._native is not None:
            handled, decided = self._native.tag(title, text, lang, explain)
            if handled:  # folded character by character, in Rust
                decisions = self._native_decisions(decided, None, explain)
                return _result(lang, decisions)
        fields = {TITLE: normalize(title), TEXT: normalize(text)}
        found = {field: self._matcher.find(normalized) for field, normalized in fields.items()}
        if self._native is not None:
            title_fold, text_fold = fields[TITLE].text, fields[TEXT].text
            decided = self._native.decide(title_fold, text_fold, found[TITLE], found[TEXT], lang, explain)
            decisions = self._native_decisions(decided, fields, explain)
        elif not explain and not self._could_score(found):
            # Most news: none of the tags has the words any of its scoring rules needs. Skip the rest.
            decisions = tuple(
                TagDecision(tag=tag.spec.tag, applied=False, score=0.0, threshold=tag.spec.threshold)
                for tag in self._tags
            )
        else:
            document = self._document(fields, found, lang)
            decisions = tuple(_decide(tag, document, explain) for tag in self._tags)
        return _result(lang, decisions)

    def rule_matches(self, tag: str, rule_id: str, title: str, text: str, lang: str | None = None) -> bool:
        """Whether one rule (or veto) holds somewhere in an article: used to check the rules' own examples."""
        compiled_tag = next(t for t in self._tags if t.spec.tag == tag)
        rule = next(r for r in (*compiled_tag.rules, *compiled_tag.vetoes) if r.rule.id == rule_id)
        fields = {TITLE: normalize(title), TEXT: normalize(text)}
        found = {field: self._matcher.find(normalized) for field, normalized in fields.items()}
        return bool(_rule_matches(rule, self._document(fields, found, lang or _detect(title, text)), 1))

    def _native_decisions(
        self, decided: list[Any] | None, fields: dict[str, Normalized] | None, explain: bool
    ) -> tuple[TagDecision, ...]:
        """The compiled engine's decisions (see native/src/tagger.rs) rounded and named, as `_decide` makes
        them. The evidence is mapped back to the original offsets with `fields` and sorted here, or, when
        `fields` is None (the engine folded the text itself), it comes mapped and sorted."""
        if decided is None:  # no tag could score: the common case for most news
            return tuple(_nothing(tag) for tag in self._tags)
        decisions = []
        for tag, outcome in zip(self._tags, decided, strict=True):
            if outcome is None:
                decisions.append(_nothing(tag))
                continue
            raw_score, fired, vetoes, requirement_met, raw_evidence = outcome
            spec = tag.spec
            score = round(raw_score, 4)
            vetoed_by = tuple(tag.vetoes[veto].rule.id for veto in vetoes)
            applied = score >= spec.threshold and requirement_met and not vetoed_by
            evidence: tuple[TagHit, ...] = ()
            if applied or explain:
                hits = []
                for entry, field_code, start, end, weight in raw_evidence:
                    field = TEXT if field_code else TITLE
                    if fields is not None:
                        start, end = fields[field].original_span(start, end)
                    hits.append(TagHit(self._entry_text[entry], field, start, end, round(weight, 4)))
                if fields is not None:  # offsets changed: the order is by original position
                    hits.sort(key=_evidence_order)
                evidence = tuple(hits)
            decisions.append(
                TagDecision(
                    tag=spec.tag,
                    applied=applied,
                    score=score,
                    threshold=spec.threshold,
                    rules=tuple(
                        RuleScore(tag.rules[rule].rule.id, round(total, 4), count) for rule, total, count in fired
                    ),
                    vetoed_by=vetoed_by,
                    requirement_met=requirement_met,
                    evidence=evidence,
                )
            )
        return tuple(decisions)

    def _could_score(self, found: dict[str, list[RawHit]]) -> bool:
        """Whether some positive rule of some tag could hold, judging by which concepts occur at all."""
        masks = self._entries_mask
        present = 0
        for raw_hits in found.values():
            for entries, _start, _end in raw_hits:
                present |= masks[entries]
        return any(_has_each(necessary, present) for necessary in self._scoring_needs)

    def _document(self, fields: dict[str, Normalized], found: dict[str, list[RawHit]], lang: str) -> _Document:
        document = _Document(fields, lang)
        for field, normalized in fields.items():
            if found[field]:
                self._add_hits(document, field, normalized.text, found[field], lang)
        return document.finish()

    def _add_hits(self, document: _Document, field: str, folded: str, raw_hits: list[RawHit], lang: str) -> None:
        """Position the hits (sentence and word numbers, counted in one left-to-right pass) and file them."""
        entry_terms = self._entry_terms
        # The title is always one sentence: headlines rarely end one and start another.
        sentences = [0] if field == TITLE else sentence_starts(folded)
        sentences.append(len(folded) + 1)
        sentence, next_sentence = 0, sentences[1]
        position = word = 0
        has_newlines = "\n" in folded
        all_hits, units = document.all, document.units
        unit = units.setdefault((field, 0), {})
        # Inlined on purpose (no helper calls): this loop runs once per hit, dozens of times per article.
        for entries, start, end in sorted(raw_hits, key=_by_start):
            if start >= next_sentence:
                while start >= next_sentence:
                    sentence += 1
                    next_sentence = sentences[sentence + 1]
                unit = units.setdefault((field, sentence), {})
            word += folded.count(" ", position, start)
            if has_newlines:
                word += folded.count("\n", position, start)
            position = start
            last_word = word + folded.count(" ", start, end) if end - start > 3 else word
            for entry in entries:
                concept, term, term_lang, weight, article_language_only = entry_terms[entry]
                if article_language_only and term_lang != lang:
                    continue  # a function word ("i", "z", "no") of another language
                # tuple.__new__ directly: a NamedTuple's own __new__ is Python code.
                hit = _new_hit(Hit, (concept, term, term_lang, weight, field, start, end, sentence, word, last_word))
                found = all_hits.get(concept)
                if found is None:
                    all_hits[concept] = [hit]
                else:
                    found.append(hit)
                found = unit.get(concept)
                if found is None:
                    unit[concept] = [hit]
                else:
                    found.append(hit)


_by_start = itemgetter(1)
_new_hit = tuple.__new__


def _result(lang: str, decisions: tuple[TagDecision, ...]) -> TaggingResult:
    return TaggingResult(
        lang=lang,
        tags=tuple(decision.tag for decision in decisions if decision.applied),
        scores={decision.tag: decision.score for decision in decisions},
        evidence={decision.tag: decision.evidence for decision in decisions if decision.applied},
        decisions=decisions,
    )


def _nothing(tag: _CompiledTag) -> TagDecision:
    """The decision for a tag none of whose rules matched."""
    return TagDecision(tag=tag.spec.tag, applied=False, score=0.0, threshold=tag.spec.threshold)


def _evidence_order(hit: TagHit) -> tuple[bool, int, int, str]:
    return (hit.field != TITLE, hit.start, hit.end, hit.term)


_SCOPE_CODES = {"sentence": 0, "title": 1, "document": 2}  # as native/src/tagger.rs


def _native_engine(
    matcher: Matcher, tags: Sequence[_CompiledTag], entry_terms: Sequence[tuple[str | int | float | bool, ...]]
) -> Any:
    """The compiled ``TagEngine`` for these rules, or None without the extension (or past its limits)."""
    compiled = native_module.module()
    if compiled is None or not hasattr(compiled, "TagEngine") or matcher.compiled is None:
        return None
    concepts = {concept for concept, *_ in entry_terms}
    if max(concepts, default=0) >= 128:  # the engine's concept masks are 128 bits
        return None
    terms: dict[object, int] = {}
    langs: dict[object, int] = {}
    entries = [
        (concept, terms.setdefault(term, len(terms)), langs.setdefault(lang, len(langs)), weight, article_language_only)
        for concept, term, lang, weight, article_language_only in entry_terms
    ]
    nodes: list[tuple[object, ...]] = []
    node_ids: dict[Condition, int] = {}

    def node(condition: Condition) -> int:
        found = node_ids.get(condition)
        if found is not None:
            return found
        if isinstance(condition, Ref):
            spec: tuple[object, ...] = (0, condition.concept, [], 0, [], 0.0)
        elif isinstance(condition, Weighted):
            spec = (5, 0, [], 0, list(condition.concepts), condition.threshold)
        else:
            parts = [node(part) for part in condition.parts]
            if isinstance(condition, Near):
                within = -1 if condition.within == "sentence" else condition.within
                spec = (4, 0, parts, within, [], 0.0)
            else:
                kind = 1 if isinstance(condition, AllOf) else 2 if isinstance(condition, AnyOf) else 3
                assert isinstance(condition, AllOf | AnyOf | NoneOf)
                spec = (kind, 0, parts, 0, [], 0.0)
        node_ids[condition] = len(nodes)
        nodes.append(spec)
        return node_ids[condition]

    def rule_spec(rule: _CompiledRule) -> tuple[object, ...]:
        return (
            _SCOPE_CODES[rule.rule.scope],
            rule.rule.weight,
            rule.rule.max_count,
            node(rule.rule.when),
            list(rule.necessary),
        )

    tag_specs = [
        (
            tag.spec.threshold,
            tag.spec.title_factor,
            [rule_spec(rule) for rule in tag.rules],
            [rule_spec(veto) for veto in tag.vetoes],
            None if tag.spec.require is None else node(tag.spec.require),
        )
        for tag in tags
    ]
    return compiled.TagEngine(
        matcher.compiled,
        separable_folds(),
        entries,
        list(terms),
        list(langs),
        nodes,
        tag_specs,
        native_module.space_ranges(),
        sorted(ABBREVIATIONS),
    )


def _detect(title: str, text: str) -> str:
    from streams.language import detect_language  # loads the language model on first use

    return detect_language(f"{title}\n{text}")


def _rule_matches(
    rule: _CompiledRule, document: _Document, limit: int | None = None
) -> list[tuple[_Unit | None, list[Hit]]]:
    """Where the rule holds: (unit, supporting hits) per matching sentence, or one (None, hits).

    At most `limit` sentences, the first ones in `unit_order`: a rule counts only its first `max_count`
    matches, and a veto needs only one, so the sentences after those are not evaluated at all.
    """
    if rule.rule.scope == "sentence":
        found = []
        masks, units, necessary, run = document.masks, document.units, rule.necessary, rule.run
        memos = document.memos
        for unit in document.unit_order:
            scope_mask = masks[unit]
            for mask in necessary:  # _has_each, inlined: this runs for every rule and sentence
                if not mask & scope_mask:
                    break
            else:
                memo = memos.get(unit)
                if memo is None:
                    memo = memos[unit] = {}
                support = run(units[unit], memo)
                if support is not None:
                    found.append((unit, support))
                    if len(found) == limit:
                        break
        return found
    scope_key = rule.rule.scope
    if scope_key == "title":
        scope: Scope = document.title
        scope_mask = document.title_mask
    else:
        scope, scope_mask = document.all, document.all_mask
    if not _possible(rule, scope_mask):
        return []
    support = rule.run(scope, document.memo(scope_key))
    return [] if support is None else [(None, support)]


def _decide(tag: _CompiledTag, document: _Document, explain: bool) -> TagDecision:
    spec = tag.spec
    if not explain and not any(rule.rule.weight > 0 and _possible(rule, document.all_mask) for rule in tag.rules):
        # Nothing that could add to the score is in the article: the common case for most news.
        return TagDecision(tag=spec.tag, applied=False, score=0.0, threshold=spec.threshold)
    score = 0.0
    rule_scores: list[RuleScore] = []
    contributions: list[tuple[float, list[Hit]]] = []
    for rule in tag.rules:
        matches = _rule_matches(rule, document, rule.rule.max_count)
        if not matches:
            continue
        rule_total = 0.0
        for unit, support in matches:
            factor = spec.title_factor if unit is not None and unit[0] == TITLE else 1.0
            contribution = rule.rule.weight * factor
            rule_total += contribution
            contributions.append((contribution, support))
        score += rule_total
        rule_scores.append(RuleScore(rule.rule.id, round(rule_total, 4), len(matches)))
    if not contributions and not explain:
        return TagDecision(tag=spec.tag, applied=False, score=0.0, threshold=spec.threshold)
    vetoed_by = tuple(veto.rule.id for veto in tag.vetoes if _rule_matches(veto, document, 1))
    requirement_met = tag.require is None or tag.require(document.all, document.memo("all")) is not None
    score = round(score, 4)
    applied = score >= spec.threshold and requirement_met and not vetoed_by
    return TagDecision(
        tag=spec.tag,
        applied=applied,
        score=score,
        threshold=spec.threshold,
        rules=tuple(rule_scores),
        vetoed_by=vetoed_by,
        requirement_met=requirement_met,
        evidence=_evidence(contributions, document) if applied or explain else (),
    )


def _evidence(contributions: list[tuple[float, list[Hit]]], document: _Document) -> tuple[TagHit, ...]:
    shares: dict[_Span, float] = defaultdict(float)
    shown: dict[_Span, Hit] = {}
    for contribution, support in contributions:
        _share(contribution, support, shares, shown, document.lang)
    evidence = []
    for (field, start, end), weight in shares.items():
        original_start, original_end = document.fields[field].original_span(start, end)
        evidence.append(TagHit(shown[(field, start, end)].term, field, original_start, original_end, round(weight, 4)))
    evidence.sort(key=lambda item: (item.field != TITLE, item.start, item.end, item.term))
    return tuple(evidence)


def _share(
    contribution: float, support: Sequence[Hit], shares: dict[_Span, float], shown: dict[_Span, Hit], lang: str
) -> None:
    """Split a rule's contribution evenly over the distinct spans that supported it.

    The same word can be a hit of two concepts or of two languages' lists ("mass~", "masse~"): it is one
    span, shown with the term of the article's language when there is one.
    """
    spans: dict[_Span, Hit] = {}
    for hit in support:
        span = (hit.field, hit.start, hit.end)
        if span not in spans or (spans[span].lang != lang and hit.lang == lang):
            spans[span] = hit
    if not spans:
        return
    each = contribution / len(spans)
    for span, hit in spans.items():
        shares[span] += each
        current = shown.get(span)
        if current is None or (current.lang != lang and hit.lang == lang):
            shown[span] = hit
