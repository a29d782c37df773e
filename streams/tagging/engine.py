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
from pathlib import Path

from streams.tagging.conditions import Hit, Scope, evaluate
from streams.tagging.matcher import Matcher
from streams.tagging.model import RuleScore, TagDecision, TaggingResult, TagHit
from streams.tagging.normalize import Normalized, normalize, sentence_index, sentence_starts, word_index
from streams.tagging.rules import Rule, RuleSet, TagRules, load_rules

TITLE, TEXT = "title", "text"
_UNIT = tuple[str, int]  # (field, sentence index): one sentence-scope unit


class _Document:
    """One article's hits, grouped the ways the rules look at them (built once, shared by all tags)."""

    def __init__(self, hits: list[Hit], fields: dict[str, Normalized]) -> None:
        self.fields = fields
        self.all: dict[int, list[Hit]] = defaultdict(list)
        self.title: dict[int, list[Hit]] = defaultdict(list)
        self.units: dict[_UNIT, dict[int, list[Hit]]] = {}
        for hit in hits:
            self.all[hit.concept].append(hit)
            if hit.field == TITLE:
                self.title[hit.concept].append(hit)
            unit = self.units.setdefault((hit.field, hit.sentence), defaultdict(list))
            unit[hit.concept].append(hit)
        # Title first, so max_count keeps the title match and its factor.
        self.unit_order = sorted(self.units, key=lambda unit: (unit[0] != TITLE, unit))


class Tagger:
    """Applies a rule set to articles. Build once (`default()` or `from_paths`), then call `tag` freely."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._matcher = Matcher(rules.entries)
        self._entry_terms = [(entry.concept, entry.term.text, entry.term.weight) for entry in rules.entries]

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> Tagger:
        return cls(load_rules(paths))

    @classmethod
    def default(cls) -> Tagger:
        from streams.rules import default_rules_paths

        return cls.from_paths(default_rules_paths())

    @property
    def tag_names(self) -> tuple[str, ...]:
        return tuple(tag.tag for tag in self.rules.tags)

    def tag(self, title: str, text: str, lang: str | None = None) -> TaggingResult:
        """Tag one article. `lang` (ISO 639-1) is detected from the title and text when not given."""
        if not lang:
            from streams.language import detect_language

            lang = detect_language(f"{title}\n{text}")
        document = self._document(title, text)
        decisions = tuple(_decide(tag_rules, document) for tag_rules in self.rules.tags)
        return TaggingResult(
            lang=lang,
            tags=tuple(decision.tag for decision in decisions if decision.applied),
            scores={decision.tag: decision.score for decision in decisions},
            evidence={decision.tag: decision.evidence for decision in decisions if decision.applied},
            decisions=decisions,
        )

    def rule_matches(self, tag: str, rule_id: str, title: str, text: str) -> bool:
        """Whether one rule (or veto) holds somewhere in an article: used to check the rules' own examples."""
        tag_rules = next(t for t in self.rules.tags if t.tag == tag)
        rule = next(r for r in (*tag_rules.rules, *tag_rules.vetoes) if r.id == rule_id)
        return bool(_rule_matches(rule, self._document(title, text)))

    def _document(self, title: str, text: str) -> _Document:
        fields = {TITLE: normalize(title), TEXT: normalize(text)}
        hits: list[Hit] = []
        for field, normalized in fields.items():
            raw_hits = self._matcher.find(normalized)
            if not raw_hits:
                continue
            # The title is always one sentence: headlines rarely end one and start another.
            starts = [0] if field == TITLE else sentence_starts(normalized.text)
            folded = normalized.text
            for raw in raw_hits:
                concept, term, weight = self._entry_terms[raw.entry]
                first_word = word_index(folded, raw.start)
                last_word = first_word + folded.count(" ", raw.start, raw.end) + folded.count("\n", raw.start, raw.end)
                hits.append(
                    Hit(concept, term, weight, field, raw.start, raw.end,
                        sentence_index(starts, raw.start), first_word, last_word)
                )
        return _Document(hits, fields)


def _rule_matches(rule: Rule, document: _Document) -> list[tuple[_UNIT | None, list[Hit]]]:
    """Where the rule holds: (unit, supporting hits) per matching sentence, or one (None, hits)."""
    if rule.scope == "sentence":
        found = []
        for unit in document.unit_order:
            scope = document.units[unit]
            if rule.triggers.isdisjoint(scope):
                continue
            support = evaluate(rule.when, scope)
            if support is not None:
                found.append((unit, support))
        return found
    scope: Scope = document.title if rule.scope == "title" else document.all
    if rule.triggers.isdisjoint(scope):
        return []
    support = evaluate(rule.when, scope)
    return [] if support is None else [(None, support)]


def _decide(tag_rules: TagRules, document: _Document) -> TagDecision:
    score = 0.0
    rule_scores: list[RuleScore] = []
    shares: dict[Hit, float] = defaultdict(float)
    for rule in tag_rules.rules:
        matches = _rule_matches(rule, document)[: rule.max_count]
        if not matches:
            continue
        rule_total = 0.0
        for unit, support in matches:
            factor = tag_rules.title_factor if unit is not None and unit[0] == TITLE else 1.0
            contribution = rule.weight * factor
            rule_total += contribution
            _share(contribution, support, shares)
        score += rule_total
        rule_scores.append(RuleScore(rule.id, round(rule_total, 4), len(matches)))
    vetoed_by = tuple(veto.id for veto in tag_rules.vetoes if _rule_matches(veto, document))
    requirement_met = tag_rules.require is None or evaluate(tag_rules.require, document.all) is not None
    score = round(score, 4)
    return TagDecision(
        tag=tag_rules.tag,
        applied=score >= tag_rules.threshold and requirement_met and not vetoed_by,
        score=score,
        threshold=tag_rules.threshold,
        rules=tuple(rule_scores),
        vetoed_by=vetoed_by,
        requirement_met=requirement_met,
        evidence=_evidence(shares, document),
    )


def _share(contribution: float, support: Sequence[Hit], shares: dict[Hit, float]) -> None:
    distinct = set(support)
    if not distinct:
        return
    each = contribution / len(distinct)
    for hit in distinct:
        shares[hit] += each


def _evidence(shares: dict[Hit, float], document: _Document) -> tuple[TagHit, ...]:
    merged: dict[tuple[str, str, int, int], float] = defaultdict(float)
    for hit, weight in shares.items():
        start, end = document.fields[hit.field].original_span(hit.start, hit.end)
        merged[(hit.term, hit.field, start, end)] += weight  # one term listed in two concepts
    evidence = [TagHit(term, field, start, end, round(weight, 4)) for (term, field, start, end), weight in merged.items()]
    evidence.sort(key=lambda item: (item.field != TITLE, item.start, item.end, item.term))
    return tuple(evidence)
