"""Places and actors found in article text, across languages, scripts and case endings."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from streams.gazetteer import (
    Entry,
    Gazetteer,
    GazetteerError,
    Kind,
    default_gazetteer,
    find_places_and_entities,
    load_entries,
)

LANGUAGES = ("en", "ru", "uk", "de", "fr", "pl", "es")


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return default_gazetteer()


def places(text: str) -> tuple[str, ...]:
    return find_places_and_entities(text)[0]


def entities(text: str) -> tuple[str, ...]:
    return find_places_and_entities(text)[1]


# --- languages, scripts, inflection ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Украина", "Украины", "Украине", "Украину", "Украиной",  # Russian cases
        "Україна", "України", "Україні", "Україну", "Україною",  # Ukrainian cases
        "Ukraina", "Ukrainy", "Ukrainie", "Ukrainę",  # Polish cases
        "Ukraine", "Ucrania", "UKRAINE",
    ],
)  # fmt: skip
def test_ukraine_in_every_language_and_case(text: str) -> None:
    assert places(f"Новости: {text} и соседи") == ("Ukraine",)


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("Переговоры прошли в Брюсселе", "Brussels"),
        ("Делегация вылетела из Брюсселя", "Brussels"),
        ("Die Delegation reiste nach Brüssel", "Brussels"),
        ("Réunion à Bruxelles", "Brussels"),
        ("Spotkanie w Brukseli", "Brussels"),
        ("Reunión en Bruselas", "Brussels"),
        ("Ракета впала на Харківщині", "Kharkiv"),
        ("Обстрел Белгородской области", "Belgorod"),
        ("Wojska w obwodzie kurskim i w Kursku", "Kursk"),
        ("Войска у Ельни", "Yelnya"),
        ("Les forces russes près de Koursk", "Kursk"),
        ("Переговоры в Женеве", "Geneva"),
        ("Treffen in Genf", "Geneva"),
        ("Ситуація в Придністров’ї", "Transnistria"),
        ("Lage im Schwarzen Meer", "Black Sea"),
        ("на Чёрном море", "Black Sea"),
        ("Przesmyk suwalski to słaby punkt", "Suwałki Gap"),
        ("Spotkanie w Kijowie", "Kyiv"),
        ("Взрывы в Киеве", "Kyiv"),
        ("Вибухи в Києві", "Kyiv"),
    ],
)
def test_places_with_case_endings(text: str, place: str) -> None:
    assert place in places(text)


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("Генсек НАТО Столтенберг заявил", "Jens Stoltenberg"),
        ("встреча со Столтенбергом", "Jens Stoltenberg"),
        ("Spotkanie ze Stoltenbergiem", "Jens Stoltenberg"),
        ("Рябков и Шерман провели переговоры", "Sergei Ryabkov"),
        ("Рябков и Шерман провели переговоры", "Wendy Sherman"),
        ("заместитель Грушко", "Alexander Grushko"),
        ("Лавров заявил", "Sergei Lavrov"),
        ("Rozmowa z Ławrowem", "Sergei Lavrov"),
        ("Selenskyjs Rede", "Volodymyr Zelensky"),
        ("Zełenskiego wizyta", "Volodymyr Zelensky"),
        ("звернення путіна", "Vladimir Putin"),
        ("Poutine a déclaré", "Vladimir Putin"),
        ("Rzecznik Kremla", "Kremlin"),
        ("в Кремле заявили", "Kremlin"),
        ("l'OTAN et l'OSCE", "NATO"),
        ("l'OTAN et l'OSCE", "OSCE"),
        ("Die OSZE-Mission", "OSCE"),
        ("В ОБСЕ", "OSCE"),
        ("Міноборони рф повідомило", "Russian Ministry of Defence"),
        ("Минобороны России сообщило", "Russian Ministry of Defence"),
        ("Минобороны Украины сообщило", "Ukrainian Ministry of Defence"),
        ("The Pentagon said", "Pentagon"),
        ("Госдеп США", "State Department"),
        ("ЧВК «Вагнер» отступила", "Wagner Group"),
    ],
)
def test_entities_across_languages(text: str, entity: str) -> None:
    assert entity in entities(text)


def test_unqualified_russian_mod_is_russian_but_qualified_one_is_not() -> None:
    assert entities("Минобороны сообщило") == ("Russian Ministry of Defence",)
    assert entities("Минобороны Украины сообщило") == ("Ukrainian Ministry of Defence",)


# --- no false hits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Roman Abramovich flew home",  # Romania / Rome ("Rom")
        "Luca Natoli scored twice",  # NATO
        "a walk near Kurskiy station",  # Kursk: an adjective, not the city
        "Курский вокзал",  # the Moscow railway station
        "let us discuss the status",  # US
        "un accord signé par eu et nous",  # UN, EU
        "a turkey for dinner",  # Turkey
        "ми мали змогу",  # Mali (Ukrainian verb)
        "Snake Island is small",  # Iceland (German "Island")
        "the Washington Post reported",  # Washington
        "police in Moscow, Idaho",  # Moscow
        "Hunter Biden's laptop",  # Joe Biden
        "a Sherman tank in a museum",  # Wendy Sherman
        "Białogród nad Dniestrem",  # not Belgorod (Russia)
        "Rusiagate",  # Russia inside a word
    ],
)
def test_no_hits_inside_words_or_on_homographs(text: str) -> None:
    found_places, found_entities = find_places_and_entities(text)
    assert {
        "Romania",
        "Rome",
        "Kursk",
        "United States",
        "United Nations",
        "European Union",
        "Turkey",
        "Mali",
        "Iceland",
        "Washington",
        "Moscow",
        "Russia",
        "Belgorod",
    }.isdisjoint(found_places), text
    assert {"NATO", "Joe Biden", "Wendy Sherman"}.isdisjoint(found_entities), text


def test_acronyms_need_their_exact_case() -> None:
    assert places("US and EU officials met UN staff") == ("United States",)
    assert entities("US and EU officials met UN staff") == ("European Union", "United Nations")
    assert places("Us") == ()


def test_capitalised_aliases_need_a_capital_but_all_caps_is_fine() -> None:
    assert places("TURKEY WARNS RUSSIA") == ("Turkey", "Russia")
    assert places("turkey") == ()


# --- structure of the output ---------------------------------------------------------------------


def test_longest_match_wins_and_implies_its_parent() -> None:
    assert entities("the UN Security Council met") == ("UN Security Council", "United Nations")
    assert places("Belgorod-Dnestrovsky port") == ("Bilhorod-Dnistrovskyi", "Ukraine")
    assert places("ships in the Baltic Sea") == ("Baltic Sea",)


def test_cities_and_regions_add_their_country_after_themselves() -> None:
    assert places("Shelling in Kharkiv") == ("Kharkiv", "Ukraine")
    assert places("Suwałki Gap") == ("Suwałki Gap", "Poland", "Lithuania")
    assert places("Talks in Jerusalem") == ("Jerusalem",)  # disputed status: no country


def test_order_is_first_appearance_title_first_without_repeats() -> None:
    found = find_places_and_entities("Lavrov in Geneva", "Geneva talks. Moscow and NATO. Lavrov again.")
    assert found == (("Geneva", "Switzerland", "Moscow", "Russia"), ("Sergei Lavrov", "NATO"))


def test_title_and_text_do_not_join_across_the_boundary() -> None:
    assert find_places_and_entities("Report from Kyi", "v and beyond") == ((), ())
    assert find_places_and_entities("Report from", "Kyiv") == (("Kyiv", "Ukraine"), ())


def test_implied_names_can_be_switched_off() -> None:
    bare = Gazetteer(load_entries(), include_implied=False)
    assert bare.find("Shelling in Kharkiv") == (("Kharkiv",), ())


def test_mentions_give_offsets_into_the_text(gazetteer: Gazetteer) -> None:
    text = "Столтенберга ждут в Брюсселе"
    mentions = gazetteer.mentions(text)
    assert [(m.name, text[m.start : m.end]) for m in mentions] == [
        ("Jens Stoltenberg", "Столтенберга"),
        ("Brussels", "Брюсселе"),
    ]


def test_stem_aliases_accept_short_endings_only() -> None:
    entries = [Entry("Stoltenberg", Kind.PERSON, (), {"ru": ("Столтенберг*",)})]
    stems = Gazetteer(entries)
    assert stems.find("Столтенбергом")[1] == ("Stoltenberg",)
    assert stems.find("Столтенбергиана")[1] == ()


# --- the data files ------------------------------------------------------------------------------


BRIEF_PLACES = [
    "Donbas", "Donetsk", "Luhansk", "Crimea", "Belgorod", "Kursk", "Bryansk", "Voronezh", "Rostov",
    "Kaliningrad", "Transnistria", "Baltic states", "Baltic Sea", "Black Sea", "Suwałki Gap", "Kharkiv",
    "Kyiv", "Brest", "Gomel", "Yelnya", "Smolensk", "Vienna", "Geneva", "Brussels",
    "United States", "Canada", "China", "Iran", "Turkey", "Israel",
]  # fmt: skip
BRIEF_ACTORS = [
    "NATO", "OSCE", "European Union", "United Nations", "Kremlin", "Pentagon", "State Department",
    "Russian Ministry of Defence", "Russian Ministry of Foreign Affairs", "Jens Stoltenberg", "Wendy Sherman",
    "Sergei Ryabkov", "Alexander Grushko", "Sergei Lavrov", "Vladimir Putin", "Joe Biden", "Antony Blinken",
    "Volodymyr Zelensky", "Alexander Lukashenko", "Sergei Shoigu", "Dmitry Peskov", "Emmanuel Macron",
    "Olaf Scholz", "Mark Rutte",
]  # fmt: skip
POST_SOVIET = [
    "Russia", "Ukraine", "Belarus", "Moldova", "Estonia", "Latvia", "Lithuania", "Georgia", "Armenia",
    "Azerbaijan", "Kazakhstan", "Kyrgyzstan", "Tajikistan", "Turkmenistan", "Uzbekistan",
]  # fmt: skip


@pytest.fixture(scope="module")
def entries() -> dict[str, Entry]:
    return {entry.name: entry for entry in load_entries()}


def test_the_names_the_brief_asks_for_are_there(entries: dict[str, Entry]) -> None:
    missing = [n for n in [*BRIEF_PLACES, *BRIEF_ACTORS, *POST_SOVIET] if n not in entries]
    assert not missing
    countries = [e for e in entries.values() if e.kind is Kind.COUNTRY]
    assert len(countries) >= 80


def test_countries_places_and_actors_have_aliases_in_all_seven_languages(entries: dict[str, Entry]) -> None:
    incomplete = {
        entry.name: [lang for lang in LANGUAGES if not entry.aliases.get(lang)]
        for entry in entries.values()
        if entry.kind is not Kind.BLOCKER
    }
    assert {name: langs for name, langs in incomplete.items() if langs} == {"Rome": ["es"]}


def test_no_alias_mixes_latin_and_cyrillic_letters(entries: dict[str, Entry]) -> None:
    # A Latin "i" typed inside a Cyrillic word looks right and never matches anything.
    mixed = []
    for entry in entries.values():
        for form in entry.forms():
            scripts = {unicodedata.name(c).split()[0] for c in form.text if c.isalpha()}
            if {"LATIN", "CYRILLIC"} <= scripts:
                mixed.append(form.text)
    assert mixed == []


def test_clashing_aliases_are_reported(tmp_path: Path) -> None:
    entries = [
        Entry("Georgia", Kind.COUNTRY, (), {"en": ("Georgia",)}),
        Entry("Georgia (US state)", Kind.REGION, (), {"en": ("Georgia",)}),
    ]
    with pytest.raises(GazetteerError, match="claimed by both"):
        Gazetteer(entries)


def test_unknown_country_is_reported(tmp_path: Path) -> None:
    for filename in ("countries.yaml", "cities.yaml", "organisations.yaml", "people.yaml", "blockers.yaml"):
        (tmp_path / filename).write_text("[]\n", encoding="utf-8")
    (tmp_path / "regions.yaml").write_text("- name: Atlantis\n  country: Nowhere\n", encoding="utf-8")
    with pytest.raises(GazetteerError, match="unknown country"):
        load_entries(tmp_path)


def test_one_automaton_holds_every_form(gazetteer: Gazetteer) -> None:
    assert len(gazetteer) > 5000
