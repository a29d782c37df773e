"""The alias language of the gazetteer data files, and the text fold used for matching."""

from __future__ import annotations

import pytest

from streams.gazetteer.aliases import ENDINGS, AliasError, AliasForm, expand, fold


def texts(alias: str) -> list[str]:
    return [form.text for form in expand(alias)]


def test_plain_alias_is_one_form_that_needs_a_capital() -> None:
    assert expand("Ukraine") == [AliasForm("Ukraine")]
    assert expand("Ukraine")[0].needs_capital
    assert not expand("von der Leyen")[0].needs_capital


def test_brace_alternatives_expand_including_the_empty_one() -> None:
    assert texts("Kiew{,s}") == ["Kiew", "Kiews"]
    assert texts("Брюссел{ь,я,е}") == ["Брюссель", "Брюсселя", "Брюсселе"]


def test_named_ending_sets_expand_to_the_paradigm() -> None:
    assert texts("Украин{ru_a}") == ["Украин" + ending for ending in ENDINGS["ru_a"]]
    assert {"Украина", "Украины", "Украине", "Украину", "Украиной"} <= set(texts("Украин{ru_a}"))
    assert {"Україна", "України", "Україні"} <= set(texts("Україн{uk_a}"))
    assert {"Ukraina", "Ukrainy", "Ukrainie"} <= set(texts("Ukrain{pl_a}"))
    assert {"Столтенберг", "Столтенберга"} <= set(texts("Столтенберг{ru_m}"))


def test_several_groups_give_every_combination() -> None:
    assert texts("Южн{ая,ой} Коре{я,и}") == ["Южная Корея", "Южная Кореи", "Южной Корея", "Южной Кореи"]


def test_exact_case_and_stem_markers() -> None:
    (us,) = expand("=US")
    assert us.text == "US" and us.exact_case and not us.needs_capital
    (stem,) = expand("Столтенберг*")
    assert stem.text == "Столтенберг" and stem.stem


def test_sharp_s_gets_an_ss_spelling_too() -> None:
    assert texts("Weißrussland") == ["Weißrussland", "Weissrussland"]


def test_whitespace_inside_an_alias_is_normalised() -> None:
    assert texts("  Black   Sea ") == ["Black Sea"]


@pytest.mark.parametrize("bad", ["", "=", "*", "Kiew{", "Kiew}", "Kiew{nope}", "Ki*ew", "{,}"])
def test_malformed_aliases_are_rejected(bad: str) -> None:
    with pytest.raises(AliasError):
        expand(bad)


def test_fold_keeps_one_character_per_character() -> None:
    for text in ["Weißrussland", "İstanbul", "Чёрное море", "Придністров’я", "NATO's", "ǅ"]:
        assert len(fold(text)) == len(text), text
    assert fold("Чёрное") == "черное"
    assert fold("Придністров’я") == "придністров'я"
    assert fold("İstanbul") == "istanbul"
