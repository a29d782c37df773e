"""Every rule of the packaged rule files passes its own must-match and must-not-match examples."""

from __future__ import annotations

import pytest

from streams.tagging import Tagger
from streams.tagging.examples import ExampleResult, run_examples

RESULTS = run_examples(Tagger.default())


def test_every_rule_has_examples() -> None:
    tagger = Tagger.default()
    for tag in tagger.rules.tags:
        for rule in (*tag.rules, *tag.vetoes):
            assert rule.match and rule.no_match, f"{tag.tag}/{rule.id} lacks examples"


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: f"{r.tag}/{r.rule}/{'+' if r.expected else '-'}")
def test_rule_example(result: ExampleResult) -> None:
    assert result.passed, result.describe()
