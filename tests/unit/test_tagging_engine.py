"""The tagger: scopes, proximity, vetoes, negative context, title weighting, evidence and the seed case."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from newswatch.schema import Evidence
from streams.tagging import Tagger, TaggingResult

RULES = """
tag: demo
threshold: 3
title_factor: 2
concepts:
  forces: {en: [troop*, soldiers], ru: [войск~]}
  massing: {en: [massed, massing, sent], ru: [стян*]}
  border: {en: [border*], ru: [границ~]}
  withdrawal: {en: [withdraw*, withdrew, "returned to base"]}
  parade: {en: [parade*]}
  and_word: {only_in_article_language: true, en: [and], pl: [i]}
  sport: {en: [football, coach, league, striker]}
patterns:
  pair_and: {near: [and_word, forces, border], within: 2}
rules:
  - id: massing-at-border
    scope: sentence
    when: {all: [massing, forces, border], not: [withdrawal]}
    weight: 3
    max_count: 2
    examples: {match: [Troops massed at the border.], no_match: [Troops massed at the border and withdrew.]}
  - id: massed-troops
    scope: sentence
    when: {near: [massing, forces], within: 2}
    weight: 1
    examples: {match: [They massed troops.], no_match: [They massed and then, later that week, the troops left.]}
  - id: pair
    scope: sentence
    when: pair_and
    weight: 0.5
    examples: {match: [Troops and borders.], no_match: [Troops i borders.]}
  - id: parade-context
    scope: sentence
    when: {all: [parade, forces]}
    weight: -4
    examples: {match: [Troops marched in the parade.], no_match: [Troops massed at the border.]}
vetoes:
  - id: sports-report
    scope: document
    when: {weighted: [sport], threshold: 3}
    examples: {match: [The coach said the football league striker was fit.], no_match: [The coach left.]}
"""


@pytest.fixture(scope="module")
def tagger(tmp_path_factory: pytest.TempPathFactory) -> Tagger:
    path = Path(tmp_path_factory.mktemp("rules")) / "demo.yaml"
    path.write_text(textwrap.dedent(RULES), encoding="utf-8")
    return Tagger.from_paths([path])


def score(tagger: Tagger, title: str, text: str, lang: str = "en") -> float:
    return tagger.tag(title, text, lang=lang, explain=True).scores["demo"]


def test_sentence_scope_and_max_count(tagger: Tagger) -> None:
    one = "Troops massed at the border."
    assert score(tagger, "", one) == 3 + 1  # massing-at-border + massed-troops
    # Three such sentences: massing-at-border counts twice (max_count), massed-troops once (default).
    assert score(tagger, "", f"{one} {one} {one}") == 3 * 2 + 1
    # The same words spread over two sentences do not make a sentence-scope match.
    assert score(tagger, "", "Troops massed. The border was quiet.") == 1


def test_proximity_within_words(tagger: Tagger) -> None:
    assert score(tagger, "", "Officials said they massed troops.") == 1
    assert score(tagger, "", "They massed, the report says, only a few well-trained troops.") == 0


def test_negative_context_in_the_same_sentence(tagger: Tagger) -> None:
    assert score(tagger, "", "Troops massed at the border then withdrew.") == 1  # not massing-at-border
    result = tagger.tag("", "Troops massed at the border. Troops marched in the parade.", lang="en", explain=True)
    assert result.scores["demo"] == 3 + 1 - 4
    assert "demo" not in result.tags
    negative = [hit for hit in result.decision("demo").evidence if hit.weight < 0]
    assert {hit.term for hit in negative} == {"troop*", "parade*"}


def test_title_counts_title_factor_times(tagger: Tagger) -> None:
    assert score(tagger, "Troops massed at the border", "") == (3 + 1) * 2
    result = tagger.tag("Troops massed at the border", "Nothing else.", lang="en")
    assert result.tags == ("demo",)


def test_veto_blocks_the_tag(tagger: Tagger) -> None:
    text = "Troops massed at the border, the football coach joked; the league's striker agreed."
    decision = tagger.tag("", text, lang="en", explain=True).decision("demo")
    assert decision.score >= 3 and not decision.applied
    assert decision.vetoed_by == ("sports-report",)
    assert "vetoed by sports-report" in decision.reason


def test_terms_only_in_their_own_language(tagger: Tagger) -> None:
    assert score(tagger, "", "Troops and borders.", lang="en") == 0.5
    assert score(tagger, "", "Troops i borders.", lang="en") == 0  # Polish "i" ignored in English
    assert score(tagger, "", "Troops i borders.", lang="pl") == 0.5


def test_evidence_offsets_point_into_the_original_fields(tagger: Tagger) -> None:
    title = "Россия стянула войска к границе"
    text = "Straße… Die Truppen? No: «TROOPS» were MASSED near the BORDER – again."
    result = tagger.tag(title, text, lang="en")
    assert result.tags == ("demo",)
    fields = {"title": title, "text": text}
    matched = [(hit.field, fields[hit.field][hit.start : hit.end]) for hit in result.evidence["demo"]]
    assert matched == [
        ("title", "стянула"),
        ("title", "войска"),
        ("title", "границе"),
        ("text", "TROOPS"),
        ("text", "MASSED"),
        ("text", "BORDER"),
    ]
    # The weights of the evidence add up to the score.
    assert sum(hit.weight for hit in result.evidence["demo"]) == pytest.approx(result.scores["demo"])


def test_evidence_converts_to_the_schema(tagger: Tagger) -> None:
    result = tagger.tag("Troops massed at the border", "", lang="en")
    hit = result.evidence["demo"][0]
    assert Evidence(**dataclasses.asdict(hit)) == Evidence(
        term=hit.term, field=hit.field, start=hit.start, end=hit.end, weight=hit.weight
    )


def test_result_is_typed_and_frozen(tagger: Tagger) -> None:
    result = tagger.tag("", "Nothing here.", lang="en")
    assert isinstance(result, TaggingResult)
    assert result.tags == () and result.scores == {"demo": 0.0} and result.evidence == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.lang = "de"  # type: ignore[misc]


def test_language_is_detected_when_not_given(tagger: Tagger) -> None:
    assert tagger.tag("Войска у границы", "Россия стянула войска к границе с Украиной.").lang == "ru"
    assert tagger.tag("", "").lang == "und"


# --- the packaged rules on the seed case: NATO-Russia Council, 12 January 2022 --------------------------


SEED = {
    "en": (
        "NATO and Russia hold first council meeting in 2.5 years as troops mass near Ukraine",
        "Deputy Secretary of State Wendy Sherman joined NATO ambassadors in Brussels on Wednesday as the NATO-Russia "
        "Council met for the first time since 2019. Russia's delegation, led by Deputy Foreign Minister Alexander "
        "Grushko, pressed its demand for security guarantees and draft treaties barring NATO's expansion. Secretary "
        "General Jens Stoltenberg said allies were ready to talk about arms control. Russia has massed more than "
        "100,000 troops near Ukraine's border.",
    ),
    "ru": (
        "Совет Россия — НАТО собрался впервые за два с половиной года",
        "В Брюсселе прошло заседание Совета Россия — НАТО, российскую делегацию возглавил замглавы МИД Александр "
        "Грушко. Москва добивается гарантий безопасности. Тем временем у границы с Украиной сосредоточено более "
        "100 тысяч российских военнослужащих.",
    ),
}


@pytest.mark.parametrize("lang", sorted(SEED))
def test_seed_case_gets_both_tags(lang: str) -> None:
    title, text = SEED[lang]
    result = Tagger.default().tag(title, text)
    assert result.lang == lang
    assert set(result.tags) == {"nato-russia-talks", "troop-buildup"}
