"""Measuring a tagger against a labelled corpus: precision, recall and F1 per tag, overall and per language.

The corpus is JSON Lines, one article per line: ``{"id", "lang", "title", "text", "labels": [tags]}``.
Used by ``bench/tagging_quality.py`` (the printed report) and by the corpus test (the quality gate).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.tagging.engine import Tagger
from streams.tagging.model import TagDecision

ALL = "all"


@dataclass(frozen=True, slots=True)
class CorpusItem:
    id: str
    lang: str
    title: str
    text: str
    labels: frozenset[str]


@dataclass(frozen=True, slots=True)
class Scores:
    """Counts and the derived ratios for one tag over one slice of the corpus (a language, or all)."""

    tag: str
    lang: str
    true_positives: int
    false_positives: int
    false_negatives: int
    support: int  # articles labelled with the tag

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.support if self.support else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclass(frozen=True, slots=True)
class TagError:
    """One wrong decision, with everything needed to see why."""

    item: CorpusItem
    tag: str
    kind: str  # "false positive" or "false negative"
    decision: TagDecision


@dataclass(frozen=True, slots=True)
class Evaluation:
    scores: tuple[Scores, ...]
    errors: tuple[TagError, ...]

    def score(self, tag: str, lang: str = ALL) -> Scores:
        for scores in self.scores:
            if scores.tag == tag and scores.lang == lang:
                return scores
        raise KeyError(f"no scores for tag {tag!r} in language {lang!r}")

    @property
    def languages(self) -> list[str]:
        return sorted({scores.lang for scores in self.scores} - {ALL})


def load_corpus(paths: Iterable[str | Path]) -> list[CorpusItem]:
    """Read corpus files (JSON Lines); a bad line raises ValueError naming the file and line."""
    items = []
    for path in paths:
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                items.append(
                    CorpusItem(str(raw["id"]), raw["lang"], raw["title"], raw["text"], frozenset(raw["labels"]))
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a corpus item (id, lang, title, text, labels): {exc}") from exc
    return items


def evaluate_corpus(tagger: Tagger, items: Sequence[CorpusItem]) -> Evaluation:
    counts: dict[tuple[str, str], list[int]] = {}  # (tag, lang) -> [tp, fp, fn, support]
    errors = []
    for item in items:
        result = tagger.tag(item.title, item.text, lang=item.lang, explain=True)
        for decision in result.decisions:
            expected = decision.tag in item.labels
            for lang in (item.lang, ALL):
                tally = counts.setdefault((decision.tag, lang), [0, 0, 0, 0])
                tally[0] += decision.applied and expected
                tally[1] += decision.applied and not expected
                tally[2] += expected and not decision.applied
                tally[3] += expected
            if decision.applied != expected:
                kind = "false positive" if decision.applied else "false negative"
                errors.append(TagError(item, decision.tag, kind, decision))
    scores = tuple(Scores(tag, lang, *tally) for (tag, lang), tally in sorted(counts.items()))
    return Evaluation(scores, tuple(errors))


def format_table(evaluation: Evaluation) -> str:
    """A fixed-width table: one row per tag and language, then the overall row of each tag."""
    lines = [f"{'tag':<20} {'lang':<5} {'P':>6} {'R':>6} {'F1':>6} {'TP':>4} {'FP':>4} {'FN':>4} {'n':>4}"]
    for tag in sorted({scores.tag for scores in evaluation.scores}):
        for lang in [*evaluation.languages, ALL]:
            try:
                s = evaluation.score(tag, lang)
            except KeyError:
                continue
            lines.append(
                f"{tag:<20} {lang:<5} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} "
                f"{s.true_positives:4d} {s.false_positives:4d} {s.false_negatives:4d} {s.support:4d}"
            )
    return "\n".join(lines)


def format_errors(evaluation: Evaluation) -> str:
    blocks = []
    for error in evaluation.errors:
        item, decision = error.item, error.decision
        fields = {"title": item.title, "text": item.text}
        evidence = "; ".join(
            f"{hit.term!r}={fields[hit.field][hit.start : hit.end]!r}@{hit.field}:{hit.start} ({hit.weight:+g})"
            for hit in decision.evidence
        )
        blocks.append(
            f"[{error.kind}] {error.tag} {item.id} ({item.lang}): {item.title}\n"
            f"    {decision.reason}\n    evidence: {evidence or '-'}"
        )
    return "\n".join(blocks) if blocks else "(no errors)"
