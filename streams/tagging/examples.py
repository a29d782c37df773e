"""Running the example sentences that every rule carries (``newswatch rules test`` and the unit tests).

* A rule's ``match`` examples must make that rule hold somewhere in the example, its ``no_match`` examples
  must not (the rule alone, without the rest of the tag). For title-scope rules the example is the title.
* A tag's own ``examples`` go through the whole tagger: ``match`` must get the tag, ``no_match`` must not.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.tagging.engine import Tagger
from streams.tagging.rules import Example, Rule, TagRules


@dataclass(frozen=True, slots=True)
class ExampleResult:
    tag: str
    rule: str  # rule or veto id, or "(tag)" for the tag's whole-article examples
    expected: bool  # True for a must-match example
    example: Example
    passed: bool
    detail: str = ""

    def describe(self) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        kind = "match   " if self.expected else "no_match"
        shown = f"{self.example.title} | {self.example.text}" if self.example.title else self.example.text
        line = f"{verdict} {self.tag} {self.rule} {kind}: {shown}"
        return f"{line}\n       {self.detail}" if self.detail and not self.passed else line


def run_examples(tagger: Tagger) -> list[ExampleResult]:
    results: list[ExampleResult] = []
    for tag_rules in tagger.rules.tags:
        for rule in (*tag_rules.rules, *tag_rules.vetoes):
            results.extend(_rule_examples(tagger, tag_rules, rule))
        results.extend(_tag_examples(tagger, tag_rules))
    return results


def _rule_examples(tagger: Tagger, tag_rules: TagRules, rule: Rule) -> list[ExampleResult]:
    results = []
    for expected, examples in ((True, rule.match), (False, rule.no_match)):
        for example in examples:
            title, text = example.title, example.text
            if rule.scope == "title" and not title:
                title, text = text, ""
            holds = tagger.rule_matches(tag_rules.tag, rule.id, title, text)
            detail = "" if holds == expected else ("the rule did not hold" if expected else "the rule held")
            results.append(ExampleResult(tag_rules.tag, rule.id, expected, example, holds == expected, detail))
    return results


def _tag_examples(tagger: Tagger, tag_rules: TagRules) -> list[ExampleResult]:
    results = []
    for expected, examples in ((True, tag_rules.match), (False, tag_rules.no_match)):
        for example in examples:
            decision = tagger.tag(example.title, example.text).decision(tag_rules.tag)
            passed = decision.applied == expected
            results.append(ExampleResult(tag_rules.tag, "(tag)", expected, example, passed, decision.reason))
    return results


def format_report(results: list[ExampleResult], *, verbose: bool = False) -> str:
    """One line per rule (passed/total), the failing examples in full, and a summary line.

    With `verbose`, every example is listed under its rule.
    """
    lines: list[str] = []
    groups: dict[tuple[str, str], list[ExampleResult]] = {}
    for result in results:
        groups.setdefault((result.tag, result.rule), []).append(result)
    for (tag, rule), group in groups.items():
        passed = sum(result.passed for result in group)
        verdict = "ok  " if passed == len(group) else "FAIL"
        lines.append(f"{verdict} {tag} {rule}: {passed}/{len(group)} examples")
        lines.extend(f"     {result.describe()}" for result in group if verbose or not result.passed)
    failed = sum(not result.passed for result in results)
    tags = len({result.tag for result in results})
    lines.append(f"{len(results) - failed}/{len(results)} examples passed across {tags} tags; {failed} failed")
    return "\n".join(lines)
