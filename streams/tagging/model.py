"""What the tagger returns: typed, frozen, and explainable.

`TagHit` has exactly the fields of `newswatch.schema.Evidence`, so the pipeline converts one into the
other with ``Evidence(**dataclasses.asdict(hit))``; this module stays free of pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TagHit:
    """One matched term that contributed to a tag decision.

    `start`/`end` are character offsets into the original `field` ("title" or "text"), so
    ``original[start:end]`` is the matched text. `weight` is this term's share of the score: the weight
    of each rule that fired is split evenly over the terms that made it fire, so the weights of a
    decision's evidence add up to its score (negative context shows up with a negative weight).
    """

    term: str
    field: str
    start: int
    end: int
    weight: float


@dataclass(frozen=True, slots=True)
class RuleScore:
    """How much one rule added to a tag's score, and in how many places (sentences) it matched."""

    rule: str
    score: float
    matches: int


@dataclass(frozen=True, slots=True)
class TagDecision:
    """The full explanation of one tag for one article, whether or not the tag was applied."""

    tag: str
    applied: bool
    score: float
    threshold: float
    rules: tuple[RuleScore, ...] = ()
    vetoed_by: tuple[str, ...] = ()
    requirement_met: bool = True
    evidence: tuple[TagHit, ...] = ()

    @property
    def reason(self) -> str:
        """One line a watch officer can read: why the tag is (not) there."""
        if self.vetoed_by:
            return f"vetoed by {', '.join(self.vetoed_by)} (score {self.score:g})"
        if not self.requirement_met:
            return f"requirement not met (score {self.score:g})"
        verdict = ">=" if self.applied else "<"
        fired = ", ".join(f"{rule.rule} {rule.score:+g}" for rule in self.rules) or "no rule matched"
        return f"score {self.score:g} {verdict} threshold {self.threshold:g}: {fired}"


@dataclass(frozen=True, slots=True)
class TaggingResult:
    """The tagger's answer for one article.

    `tags` lists the applied tags; `scores` has every tag the rules know (0 when nothing matched, so a
    near miss keeps its score); `evidence` has the evidence of the applied tags; `decisions` explains every
    tag, applied or not - with evidence for the tags that were not applied too when the tagger was asked
    to `explain`.
    """

    lang: str
    tags: tuple[str, ...]
    scores: dict[str, float]
    evidence: dict[str, tuple[TagHit, ...]]
    decisions: tuple[TagDecision, ...] = field(default=(), compare=False)

    def decision(self, tag: str) -> TagDecision:
        for decision in self.decisions:
            if decision.tag == tag:
                return decision
        raise KeyError(f"no decision for tag {tag!r}; known tags: {[d.tag for d in self.decisions]}")
