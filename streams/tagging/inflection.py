"""Inflection endings per language, for terms written as ``stem~``.

``войск~`` matches the stem followed by one of the Russian endings below (войска, войск, войсками, войсках)
but not by an arbitrary continuation (войсковой is a different word: write ``войсков*`` for that). The
lists cover the noun and adjective declensions and the commonest verb forms; they are folded like the
text (``й`` -> ``и``, ``ę`` -> ``e``), so they are written here in ordinary spelling.

Why a closed list instead of "any 0-4 letters": the closed list keeps ``мир~`` (peace) from matching
``мировой`` (world-wide) and ``rozmow~`` (talks) from matching ``rozmowny`` (talkative).
"""

from __future__ import annotations

from types import MappingProxyType

from streams.tagging.normalize import fold

_RAW_ENDINGS: dict[str, str] = {
    "ru": (
        "а я о е ё ы и у ю ь ой ей ом ем ам ям ах ях ами ями ов ев ёв ью ия ие ии ию ием иям иях иями "
        "ий ый ая яя ое ее ые ие ую юю ого его ому ему ым им ых их ыми ими ою ею ья ье ьи ьев ьям ьях ьями "
        "ах ами ет ют ат ят ит ут ил ила ило или ал ала ало али ял яла яло яли ся сь"
    ),
    "uk": (
        "а я о е є и і ї у ю ь ою ею єю ом ем єм ам ям ах ях ами ями ів їв ей ій ий ої ого ього ому ьому "
        "ую юю ими іми их іх им ім ові еві єві ія ії ію ією "
        "є ють ять ить ав ала ало али ла ло ли ся "
        # verbal nouns double the н: "скупчен~" takes скупчення, скупченням, скупченні
        "ня ні ню ням нями нях"
    ),
    "pl": (
        "a ą ę e i y o u ie em om ach ami ów owi owie ej ego emu ym im ymi imi ych ich ia ii ię ią iom iach "
        "iami iem iu io "
        "ł ła ło li ły ać ają uje ują"
    ),
    "be": "а я о е ы і у ю ь ай ой ам ям ах ях амі ямі аў яў",
    "de": "e en er es em n s ern ns ens",
    "en": "s es 's ed ing d",
    "fr": "s e es x",
    "es": "s es a as o os",
    "it": "a e i o",
    "pt": "s es a as o os",
}

# The empty ending (the bare stem) always counts.
ENDINGS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {lang: frozenset({""} | {fold(ending) for ending in raw.split()}) for lang, raw in _RAW_ENDINGS.items()}
)


def endings_for(lang: str) -> frozenset[str] | None:
    """The endings a ``stem~`` term accepts in `lang`, or None when the language has no list."""
    return ENDINGS.get(lang)
