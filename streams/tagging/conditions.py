"""The boolean/proximity condition language of the rules, and its evaluation over term hits.

A condition is evaluated over a *scope* (one sentence, the title, or the whole document): a mapping from
concept id to the hits of that concept inside the scope. Evaluation returns the hits that support the
condition (the evidence), or None when the condition does not hold. ``[]`` means "holds, but no term
to point at" (a satisfied ``not``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

SENTENCE = "sentence"


@dataclass(frozen=True, slots=True)
class Hit:
    """One verified term occurrence, positioned for proximity checks (folded-text offsets)."""

    concept: int
    term: str
    weight: float
    field: str
    start: int
    end: int
    sentence: int
    word: int  # index of the first word of the hit in its field
    last_word: int  # index of its last word (differs from `word` for phrases)


@dataclass(frozen=True, slots=True)
class Ref:
    """Holds when the concept has a hit in scope."""

    concept: int


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class NoneOf:
    """Negative context: holds when none of the parts holds in scope."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Near:
    """All parts have hits close together: within `within` words of a hit of the first part (same field),
    or in the same sentence when `within` is "sentence"."""

    parts: tuple[Condition, ...]
    within: int | Literal["sentence"]  # how many words apart (1 = the next word), or "sentence"


@dataclass(frozen=True, slots=True)
class Weighted:
    """An EMM-style weighted term list: the distinct matched terms of the concepts weigh at least `threshold`."""

    concepts: tuple[int, ...]
    threshold: float


Condition = Ref | AllOf | AnyOf | NoneOf | Near | Weighted
Scope = Mapping[int, Sequence[Hit]]


def evaluate(condition: Condition, scope: Scope) -> list[Hit] | None:
    if isinstance(condition, Ref):
        found = scope.get(condition.concept)
        return list(found) if found else None
    if isinstance(condition, AllOf):
        support: list[Hit] = []
        for part in condition.parts:
            result = evaluate(part, scope)
            if result is None:
                return None
            support.extend(result)
        return support
    if isinstance(condition, AnyOf):
        union: list[Hit] | None = None
        for part in condition.parts:
            result = evaluate(part, scope)
            if result is not None:
                union = (union or []) + result
        return union
    if isinstance(condition, NoneOf):
        return None if any(evaluate(part, scope) is not None for part in condition.parts) else []
    if isinstance(condition, Near):
        return _evaluate_near(condition, scope)
    return _evaluate_weighted(condition, scope)


def _evaluate_near(condition: Near, scope: Scope) -> list[Hit] | None:
    part_hits = []
    for part in condition.parts:
        result = evaluate(part, scope)
        if not result:
            return None
        part_hits.append(result)
    anchors, others = part_hits[0], part_hits[1:]
    support: list[Hit] = []
    for anchor in anchors:
        close = [[hit for hit in hits if _close(anchor, hit, condition.within)] for hits in others]
        if all(close):
            support.append(anchor)
            for hits in close:
                support.extend(hits)
    return support or None


def _close(anchor: Hit, hit: Hit, within: int | str) -> bool:
    if anchor.field != hit.field:
        return False
    if within == SENTENCE:
        return anchor.sentence == hit.sentence
    # Distance between the spans, so a long phrase ("vor dem Hintergrund") is as near as a single word.
    if hit.word > anchor.last_word:
        gap = hit.word - anchor.last_word
    elif anchor.word > hit.last_word:
        gap = anchor.word - hit.last_word
    else:
        gap = 0
    return gap <= within  # type: ignore[operator]  # within is an int here


def _evaluate_weighted(condition: Weighted, scope: Scope) -> list[Hit] | None:
    support: list[Hit] = []
    weights: dict[str, float] = {}
    for concept in condition.concepts:
        for hit in scope.get(concept, ()):
            support.append(hit)
            weights[hit.term] = hit.weight
    return support if weights and sum(weights.values()) >= condition.threshold else None


def positive_concepts(condition: Condition) -> frozenset[int]:
    """Concepts referenced outside any `not`: a scope with none of them cannot satisfy the condition."""
    if isinstance(condition, Ref):
        return frozenset({condition.concept})
    if isinstance(condition, Weighted):
        return frozenset(condition.concepts)
    if isinstance(condition, NoneOf):
        return frozenset()
    found: frozenset[int] = frozenset()
    for part in condition.parts:
        found |= positive_concepts(part)
    return found
