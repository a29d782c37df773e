"""Alert rules: parsing, defaults, and errors that name the rule, the field and the reason."""

from __future__ import annotations

import pytest

from alerts.rule import RulesError, parse_duration, parse_rules, query_problems, window_step
from alerts.rules import default_rules_path

CHANNELS = ["console", "webhook", "email"]


def parse(text: str, channels: list[str] = CHANNELS):  # type: ignore[no-untyped-def]
    return parse_rules(text, source="rules.yaml", channels=channels)


def problems(text: str, channels: list[str] = CHANNELS) -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse(text, channels)
    return caught.value.problems


def test_full_rule_and_defaults() -> None:
    rules = parse(
        """
- name: troop-buildup
  query: 'tags:"troop-buildup" AND places:Ukraine'
  window: 15m
  threshold: 8
  group_by: places
  cooldown: 30m
  min_sources: 3
  channels: [webhook]
- name: talks
  query: tags:"nato-russia-talks"
  window: 1h
  threshold: 5
"""
    )
    buildup, talks = rules
    assert buildup.window_seconds == 900 and buildup.cooldown == 1800 and buildup.min_sources == 3
    assert buildup.group_by == "places" and buildup.channels == ("console", "webhook")
    assert buildup.step_seconds == 30 and buildup.steps_per_window == 30
    # defaults: cooldown = window, one source, every configured channel (console first, always)
    assert talks.cooldown == 3600 and talks.min_sources == 1 and talks.group_by is None
    assert talks.channels == ("console", "email", "webhook")


def test_rules_may_sit_under_a_rules_key() -> None:
    assert parse("rules:\n  - {name: a, query: 'tags:x', window: 5s, threshold: 1}")[0].name == "a"


def test_every_problem_is_reported_with_rule_field_and_reason() -> None:
    found = problems(
        """
- name: ok-rule
  query: tags:x
  window: 10m
  threshold: 3
- name: troop-buildup
  query: 'tagz:"troop-buildup"'
  window: 15 minutes
  threshold: 0
  group_by: title
  min_sources: 5
  channels: [pager]
  thresold: 3
- query: tags:y
  window: 5m
  threshold: 2
- name: ok-rule
  query: tags:z
  window: 1m
  threshold: 1
"""
    )
    text = "\n".join(found)
    assert "rule 'troop-buildup': thresold: unknown field" in text
    assert "rule 'troop-buildup': query: unknown field 'tagz'" in text
    assert "rule 'troop-buildup': window: '15 minutes' is not a duration" in text
    assert "rule 'troop-buildup': threshold: 0 is not a whole number of at least 1" in text
    assert "rule 'troop-buildup': group_by: 'title' is not a keyword field" in text
    assert "rule 'troop-buildup': channels: 'pager' is not configured" in text
    assert "rule #3: name: required" in text
    assert "rule 'ok-rule': name: used by an earlier rule" in text


def test_min_sources_cannot_exceed_threshold() -> None:
    found = problems("- {name: a, query: 'tags:x', window: 5m, threshold: 2, min_sources: 3}")
    assert found == ["rule 'a': min_sources: 3 distinct sources need at least as many articles (threshold)"]


def test_unconfigured_channel_says_how_to_configure_it() -> None:
    found = problems("- {name: a, query: 'tags:x', window: 5m, threshold: 2, channels: [email]}", ["console"])
    assert "NEWSWATCH_ALERTS_SMTP_HOST" in found[0]


@pytest.mark.parametrize("text", ["", "just a string", "- 1\n- 2", "{a: [}"])
def test_not_a_rules_file(text: str) -> None:
    assert problems(text)


def test_durations() -> None:
    assert parse_duration("90s") == 90 and parse_duration("15m") == 900 and parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400
    for bad in ("15", "0s", "1.5h", "15 minutes", 15):
        with pytest.raises(ValueError, match="duration|at least 1s"):
            parse_duration(bad)


def test_window_step_divides_the_window() -> None:
    assert window_step(900) == 30 and window_step(3600) == 120 and window_step(5) == 1
    assert window_step(420) == 14 and window_step(61) == 1
    for seconds in (7, 59, 600, 1800, 86400, 7 * 86400):
        step = window_step(seconds)
        assert seconds % step == 0 and seconds // step >= min(seconds, 30)


def test_query_checks_ignore_quotes_escapes_and_subfields() -> None:
    from alerts.rule import article_fields

    fields = article_fields()
    assert query_problems('tags:"troop-buildup" AND places:Ukraine', fields) == []
    assert query_problems("url:https\\://x.org/a AND title.raw:x AND _exists_:places", fields) == []
    assert query_problems("published:[2022-01-12T10:00:00 TO *] AND title.english:troops", fields) == []
    assert query_problems('text:"a: b" AND scores.troop\\-buildup:>3', fields) == []
    assert query_problems("(tags:x", fields) == ["unbalanced parentheses"]
    assert query_problems('tags:"x', fields) == ['unbalanced double quote (")']


def test_default_rules_are_valid_with_only_the_console() -> None:
    rules = parse(default_rules_path().read_text(), ["console"])
    assert {rule.name for rule in rules} == {"nato-russia-talks", "troop-buildup"}
    buildup = next(rule for rule in rules if rule.name == "troop-buildup")
    assert buildup.group_by == "places" and buildup.min_sources >= 2


def test_fingerprint_follows_what_is_counted() -> None:
    (a,) = parse("- {name: a, query: 'tags:x', window: 5m, threshold: 2}")
    (b,) = parse("- {name: a, query: 'tags:x', window: 5m, threshold: 2, cooldown: 1h, channels: [webhook]}")
    (c,) = parse("- {name: a, query: 'tags:x', window: 5m, threshold: 3}")
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_elasticsearch_validation_answers() -> None:
    from alerts.queries import validation_problem

    assert validation_problem({"valid": True, "explanations": [{"explanation": "tags:x"}]}) is None
    parse_error = (
        "[idx/uuid] org.elasticsearch.index.query.QueryShardException: Failed to parse query [tags:x AND AND]; "
        "org.apache.lucene.queryparser.classic.ParseException: Cannot parse 'tags:x AND AND': Encountered "
        '" <AND> "AND "" at line 1, column 11.\nWas expecting one of:\n    <NOT> ...\n'
    )
    assert validation_problem({"valid": False, "explanations": [{"error": parse_error}]}) == (
        'Cannot parse \'tags:x AND AND\': Encountered " <AND> "AND "" at line 1, column 11.'
    )
    never = (
        'MatchNoDocsQuery("failed [published] query, caused by parse_exception:[failed to parse date field '
        "[yesterday] with format [strict_date_optional_time||epoch_millis]: [failed to parse date field "
        '[yesterday] with format [strict_date_optional_time||epoch_millis]]]")'
    )
    problem = validation_problem({"valid": True, "explanations": [{"explanation": f"+tags:x +{never}"}]})
    assert problem is not None and problem.startswith("published: failed to parse date field [yesterday]")
    assert problem.endswith("it would never match")
