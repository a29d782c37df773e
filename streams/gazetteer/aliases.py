"""Text folding and the small alias language used by the gazetteer data files.

Alias syntax (one string per alias in the YAML files):

- ``Украин{а,ы,е,у,ой}``  brace alternatives, expanded to every combination (``{,s}`` = optional "s").
- ``Путин{ru_m}``         a named ending set from ``ENDINGS`` (the declension paradigms below), so
                          inflected forms are listed once per paradigm instead of by hand per name.
- ``=US``                 exact case: "US" but never "us" (English), "UN" but never "un" (French).
- ``Столтенберг*``        a stem: the alias plus up to ``STEM_MAX_SUFFIX`` more letters. Used only
                          where every such continuation is still the same name.

Every alias that starts with an upper-case letter only matches text that starts with an upper-case
letter there too (all-caps headlines pass); aliases written in lower case match any case. That keeps
"Мали" (Mali) off the Ukrainian verb "мали" and "Turkey" off the bird, without listing exceptions.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

STEM_MAX_SUFFIX = 3

# Case endings per paradigm, including the empty ending where the base form is the bare stem.
# Generous on purpose (a form that does not exist in the language costs nothing), never so generous
# that an ending turns a name into a different common word.
ENDINGS: dict[str, tuple[str, ...]] = {
    # Russian
    "ru_m": ("", "а", "у", "ом", "ым", "е"),  # Путин, Путина, Путину, Путиным, Путине; Киевом
    "ru_soft_m": ("ь", "я", "ю", "ем", "е"),  # Брюссель, Брюсселя, Брюсселе, Кремлем
    "ru_a": ("а", "ы", "и", "е", "у", "ой", "ою"),  # Украина, Украины, Украине, Украину, Украиной
    "ru_ya": ("я", "и", "ю", "ей", "ею"),  # Россия, России, Россию, Россией
    "ru_soft_f": ("ь", "и", "ью"),  # Беларусь, Беларуси, Беларусью
    "ru_pl": ("ы", "ов", "ам", "ами", "ах"),  # Нидерланды, Нидерландов
    # Ukrainian
    "uk_m": ("", "а", "у", "ом", "им", "і", "ові"),  # Путін, Путіна, Путіним, Путіну/Путінові; Харкові
    "uk_soft_m": ("ь", "я", "ю", "ем", "і", "еві"),  # Брюссель, Брюсселя, Брюсселі
    "uk_a": ("а", "и", "і", "у", "ою"),  # Україна, України, Україні, Україну, Україною
    "uk_ya": ("я", "ї", "ю", "єю"),  # Росія, Росії, Росію, Росією
    "uk_soft_f": ("ь", "і"),  # Білорусь, Білорусі
    # Polish
    "pl_m": ("", "a", "u", "owi", "em", "ie"),  # Putin, Putina, Putinowi, Putinem, Putinie; Kremlu
    "pl_a": ("a", "y", "ie", "ę", "ą", "o"),  # Ukraina, Ukrainy, Ukrainie, Ukrainę, Ukrainą
    "pl_ja": ("a", "i", "ę", "ą"),  # Rosja, Rosji, Rosję, Rosją; Hiszpania
    "pl_ski": ("i", "iego", "iemu", "im"),  # Zełenski, Zełenskiego, Zełenskiemu, Zełenskim
    # German genitive -s (Russlands, Putins); other cases of names do not inflect.
    "de_s": ("", "s"),
}

_BRACES = re.compile(r"\{([^{}]*)\}")


class AliasError(ValueError):
    """An alias string in a data file that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class AliasForm:
    """One concrete surface form after expansion, with how strictly it must match."""

    text: str  # as written (expanded); the matcher folds it
    exact_case: bool = False
    stem: bool = False

    @property
    def needs_capital(self) -> bool:
        return not self.exact_case and self.text[:1].isupper()


def fold(text: str) -> str:
    """Case-folded NFKC text with exactly one character per input character.

    ``str.lower`` is used instead of ``str.casefold`` because casefold turns "ß" into "ss" (and
    "İ" into two code points), which would shift every offset after it; matches must map back to
    the original to check capitals. The loader registers "ss" spellings of every "ß" alias, so
    "Weißrussland" and "Weissrussland" both match. Russian "ё" is folded to "е" (most texts drop the
    dots) and typographic apostrophes to "'" (Ukrainian writes both).
    """
    if "İ" in text:
        text = text.replace("İ", "I")
    text = text.lower()
    if "ё" in text:
        text = text.replace("ё", "е")
    if "’" in text or "ʼ" in text:
        text = text.replace("’", "'").replace("ʼ", "'")
    return text


def nfkc(text: str) -> str:
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text)


def expand(alias: str) -> list[AliasForm]:
    """All surface forms of one alias string (see the module docstring for the syntax)."""
    raw = alias.strip()
    exact_case = raw.startswith("=")
    if exact_case:
        raw = raw[1:]
    stem = raw.endswith("*")
    if stem:
        raw = raw[:-1]
    if not raw or "*" in raw or "=" in raw:
        raise AliasError(f"malformed alias {alias!r}")

    parts: list[tuple[str, ...]] = []
    position = 0
    for group in _BRACES.finditer(raw):
        parts.append((raw[position : group.start()],))
        parts.append(_alternatives(group.group(1), alias))
        position = group.end()
    parts.append((raw[position:],))
    literal_text = _BRACES.sub("", raw)
    if "{" in literal_text or "}" in literal_text:
        raise AliasError(f"unbalanced braces in alias {alias!r}")

    forms: list[AliasForm] = []
    for combination in itertools.product(*parts):
        text = nfkc(" ".join("".join(combination).split()))
        if not text:
            raise AliasError(f"alias {alias!r} expands to an empty form")
        forms.append(AliasForm(text, exact_case=exact_case, stem=stem))
        if "ß" in text:  # Swiss and all-caps German write "ss"
            forms.append(AliasForm(text.replace("ß", "ss"), exact_case=exact_case, stem=stem))
    return forms


def _alternatives(body: str, alias: str) -> tuple[str, ...]:
    if "," not in body:
        endings = ENDINGS.get(body.strip())
        if endings is None:
            raise AliasError(f"unknown ending set {{{body}}} in alias {alias!r}")
        return endings
    return tuple(choice.strip() for choice in body.split(","))
