"""The boolean/proximity condition language of the rules, and its evaluation over term hits.

A condition is evaluated over a *scope* (one sentence, the title, or the whole document): a mapping from
concept id to the hits of that concept inside the scope. Evaluation returns the hits that support the
condition (the evidence), or None when the condition does not hold. ``[]`` means "holds, but no term
to point at" (a satisfied ``not``). Conditions are compiled to closures once (`ConditionCompiler`); that
and a per-scope memo of shared sub-conditions keep evaluation off the profile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

SENTENCE = "sentence"


class Hit(NamedTuple):
    """One verified term occurrence, positioned for proximity checks (folded-text offsets).

    A NamedTuple rather than a frozen dataclass: an article has dozens of hits and this is the hot path.
    """

    concept: int
    term: str
    lang: str  # the language the term was listed under
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


Support = list[Hit] | None  # the hits that make a condition hold, or None when it does not
Memo = dict[int, Support]  # per scope: results of shared sub-conditions, so each is evaluated once
Evaluator = Callable[[Scope, Memo], Support]
_MISSING: Any = object()


def evaluate(condition: Condition, scope: Scope) -> Support:
    """Evaluate one condition over one scope (convenience; the engine uses `ConditionCompiler`)."""
    return ConditionCompiler().compile(condition)(scope, {})


class ConditionCompiler:
    """Turns condition trees into closures, once per distinct node.

    A pattern used by several rules is the same node, so it gets one memo slot and is evaluated once per
    scope however many rules ask for it. Returned hit lists are shared: callers must not mutate them.
    """

    def __init__(self) -> None:
        self._compiled: dict[Condition, Evaluator] = {}

    def compile(self, condition: Condition) -> Evaluator:
        compiled = self._compiled.get(condition)
        if compiled is None:
            compiled = self._build(condition)
            if not isinstance(condition, Ref):
                compiled = _memoized(compiled, len(self._compiled))
            self._compiled[condition] = compiled
        return compiled

    def _build(self, condition: Condition) -> Evaluator:
        if isinstance(condition, Ref):
            return _ref(condition.concept)
        if isinstance(condition, Weighted):
            return _weighted(condition.concepts, condition.threshold)
        parts = tuple(self.compile(part) for part in condition.parts)
        if isinstance(condition, AllOf):
            return _all_of(parts)
        if isinstance(condition, AnyOf):
            return _any_of(parts)
        if isinstance(condition, NoneOf):
            return _none_of(parts)
        return _near(parts, condition.within)


def _memoized(evaluator: Evaluator, slot: int) -> Evaluator:
    def run(scope: Scope, memo: Memo) -> Support:
        result = memo.get(slot, _MISSING)
        if result is _MISSING:
            result = memo[slot] = evaluator(scope, memo)
        return result

    return run


def _ref(concept: int) -> Evaluator:
    def run(scope: Scope, memo: Memo) -> Support:
        return scope.get(concept) or None  # type: ignore[return-value]  # a non-empty hit list

    return run


def _all_of(parts: tuple[Evaluator, ...]) -> Evaluator:
    def run(scope: Scope, memo: Memo) -> Support:
        support: list[Hit] = []
        for part in parts:
            result = part(scope, memo)
            if result is None:
                return None
            support += result
        return support

    return run


def _any_of(parts: tuple[Evaluator, ...]) -> Evaluator:
    def run(scope: Scope, memo: Memo) -> Support:
        union: list[Hit] | None = None
        for part in parts:
            result = part(scope, memo)
            if result is not None:
                union = [*union, *result] if union is not None else list(result)
        return union

    return run


def _none_of(parts: tuple[Evaluator, ...]) -> Evaluator:
    def run(scope: Scope, memo: Memo) -> Support:
        for part in parts:
            if part(scope, memo) is not None:
                return None
        return []

    return run


def _near(parts: tuple[Evaluator, ...], within: int | str) -> Evaluator:
    def run(scope: Scope, memo: Memo) -> Support:
        part_hits = []
        for part in parts:
            result = part(scope, memo)
            if not result:
                return None
            part_hits.append(result)
        others = part_hits[1:]
        support: list[Hit] = []
        for anchor in part_hits[0]:
            close = [_close_to(anchor, hits, within) for hits in others]
            if all(close):
                support.append(anchor)
                for hits in close:
                    support += hits
        return support or None

    return run


def _close_to(anchor: Hit, hits: Sequence[Hit], within: int | str) -> list[Hit]:
    """The hits in the same field as `anchor` and in its sentence, or at most `within` words from it.

    Distance is measured between the spans, so a long phrase ("vor dem Hintergrund") is as near as a single
    word: a hit is close when it starts at most `within` words after the anchor ends and ends at most
    `within` words before the anchor starts.
    """
    field = anchor.field
    if within == SENTENCE:
        sentence = anchor.sentence
        return [hit for hit in hits if hit.sentence == sentence and hit.field == field]
    lowest = anchor.word - within  # type: ignore[operator]  # within is an int here
    highest = anchor.last_word + within  # type: ignore[operator]
    return [hit for hit in hits if hit.word <= highest and hit.last_word >= lowest and hit.field == field]


def _weighted(concepts: tuple[int, ...], threshold: float) -> Evaluator:
    def run(scope: Scope, memo: Memo) -> Support:
        support: list[Hit] = []
        weights: dict[str, float] = {}
        for concept in concepts:
            for hit in scope.get(concept, ()):
                support.append(hit)
                weights[hit.term] = hit.weight
        return support if weights and sum(weights.values()) >= threshold else None

    return run


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


def necessary_concepts(condition: Condition) -> tuple[frozenset[int], ...]:
    """Sets of concepts of which the scope must contain at least one each for the condition to hold.

    A cheap pre-check: a sentence without any forces word cannot satisfy "massing and forces and border".
    """
    if isinstance(condition, Ref):
        return (frozenset({condition.concept}),)
    if isinstance(condition, Weighted):
        return (frozenset(condition.concepts),)
    if isinstance(condition, NoneOf):
        return ()
    if isinstance(condition, AnyOf):
        alternatives = positive_concepts(condition)
        return (alternatives,) if all(positive_concepts(part) for part in condition.parts) else ()
    found: tuple[frozenset[int], ...] = ()
    for part in condition.parts:  # AllOf and Near: every part must hold
        found += necessary_concepts(part)
    return found
