"""Text normalisation for matching, with a map back to the original character offsets.

Both the rule terms and the article text go through the same fold, so a rule written as
``Truppenaufmarsch`` matches ``TRUPPENAUFMARSCH`` and ``ﬁnal`` matches ``final``:

1. NFKC (compatibility forms: ligatures, full-width letters, non-breaking spaces),
2. casefold (``ß`` -> ``ss``),
3. diacritics stripped (NFD, drop combining marks, NFC): ``é`` -> ``e``, ``ё`` -> ``е``, ``ï`` -> ``i``,
4. a few letters that have no decomposition folded by hand (``ł`` -> ``l``, ``ø`` -> ``o``, ``œ`` -> ``oe``),
5. every dash and hyphen becomes a space, so ``NATO-Russia``, ``NATO–Russia`` and ``NATO Russia`` match the
   same phrase; typographic apostrophes become ``'``.

Most characters fold to exactly one character, and then the folded text is aligned with the original
one-to-one and no offset table is needed (the fast path: whole-string C operations only). Characters that
fold to zero or several characters (combining marks, ``ß``, ``…``, ligatures) are handled segment by segment
and produce an explicit offset table, so evidence offsets always point into the original string.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from streams import native

# Letters that NFD does not decompose but that readers treat as the base letter plus a mark.
_LETTER_FOLDS = {"ł": "l", "đ": "d", "ø": "o", "ı": "i", "ħ": "h", "ŧ": "t", "ŀ": "l", "œ": "oe", "æ": "ae"}
# Typographic apostrophes (Ukrainian uses U+02BC inside words; French elides with U+2019).
_APOSTROPHES = "\u2019\u2018\u02bc\u02b9\u2032\u0060\u00b4\uff07\u201b"
# Hyphens, dashes and minus signs: all become a word separator.
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"

_SPECIAL = {**_LETTER_FOLDS, **dict.fromkeys(_APOSTROPHES, "'"), **dict.fromkeys(_DASHES, " ")}
_SPECIAL_ITEMS = tuple(_SPECIAL.items())
_COMBINING_RE = re.compile(r"[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _fold_string(text: str) -> str:
    """The fold itself, on a whole string (it may change the length)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if not folded.isascii():
        folded = unicodedata.normalize("NFC", _COMBINING_RE.sub("", unicodedata.normalize("NFD", folded)))
    # A chain of C-level replaces is faster here than a regex with a callback or str.translate.
    for char, replacement in _SPECIAL_ITEMS:
        if char in folded:
            folded = folded.replace(char, replacement)
    return folded


@cache
def _folded_length(char: str) -> int:
    return len(_fold_string(char))


@cache
def _irregular_chars_re() -> re.Pattern[str]:
    """A character class of every BMP character whose fold is not exactly one character.

    Built once (about 40 ms): it lets the fast path prove with one regex scan that the text folds
    one-to-one. Characters outside the BMP are checked by the length test in `normalize`.
    """
    irregular: list[int] = []
    for code in range(0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        if len(_fold_string(chr(code))) != 1:
            irregular.append(code)
    ranges: list[str] = []
    start = prev = irregular[0]
    for code in [*irregular[1:], -1]:
        if code != prev + 1:
            ranges.append(re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev > start else ""))
            start = code
        prev = code
    return re.compile("[" + "".join(ranges) + "]")


@cache
def separable_folds() -> list[str]:
    """For each BMP code point: its fold, when a text made only of such characters folds character by
    character ("" for the others). For the compiled fold (native/src/tagger.rs).

    A character qualifies when it folds to at least one character and cannot interact with its
    neighbours in the fold: the first character of each of its normalised forms (NFKD, and NFD after
    NFKC and casefold), and of its fold, is a starter (combining class 0) that no canonical composition
    takes as its second character. Then no composition or reordering crosses a character boundary, so
    the whole-string fold is the concatenation of the characters' folds: exactly what `normalize`
    returns, with the offset table `_normalize_by_segments` builds when some fold is longer ("ß" -> "ss").
    Computed from this Python's own Unicode data (~0.1-0.2 s, once), with whole-string C operations over
    every character at once, "\\0"-separated: a separator that nothing composes with.
    """
    separator = "\0"

    def each(fold_all: Callable[[str], str], chars: str | list[str]) -> list[str]:
        return fold_all(separator.join(chars)).split(separator)

    # Every code point that might carry a decomposition; the separator and the surrogates as spaces.
    every = native.every_character()
    chars = f" {every[1:0xD800]}{' ' * 0x800}{every[0xE000:0x20000]}"
    # The characters a composition can take second: the later ones of every composite's decomposition,
    # and the Hangul vowel and trailing consonant jamo (composed by algorithm, not by table).
    seconds = {chr(code) for code in (*range(0x1161, 0x1176), *range(0x11A8, 0x11C3))}
    for char, parts in zip(chars, each(lambda text: unicodedata.normalize("NFD", text), chars), strict=True):
        if len(parts) >= 2 and unicodedata.normalize("NFC", parts) == char:
            seconds.update(parts[1:])
    not_alone = seconds.union(filter(unicodedata.combining, chars))  # what a form may not start with
    bmp = chars[:0x10000]
    folds = each(_fold_string, bmp)
    compatibility = each(lambda text: unicodedata.normalize("NFKD", text), bmp)
    second_stage = each(lambda text: unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold()), bmp)
    table = []
    for code, fold, first, second in zip(range(0x10000), folds, compatibility, second_stage, strict=True):
        alone = (
            fold
            and first
            and second
            and fold[0] not in not_alone
            and first[0] not in not_alone
            and second[0] not in not_alone
            and max(fold[0], first[0], second[0]) < "\U00020000"  # else not_alone does not cover them
            and code != 0
            and not 0xD800 <= code < 0xE000
        )
        table.append(fold if alone else "")
    return table


@dataclass(frozen=True, slots=True)
class Normalized:
    """A folded string plus the way back to the original.

    `offsets[i]` is the index in the original string of the character that produced folded character
    `i`; `offsets` is None when the fold was one-to-one (then folded index == original index).
    """

    original: str
    text: str
    offsets: tuple[int, ...] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of the folded text to the half-open span of the original it came from."""
        offsets = self.offsets
        if offsets is None or start >= end:
            return start, end
        last = offsets[end - 1]
        # Run to where the next folded character came from, so that characters the fold dropped (a
        # combining accent after the last letter) stay inside the span.
        following = offsets[end] if end < len(offsets) else len(self.original)
        return offsets[start], following if following > last else last + 1


_NOT_WORD_CHAR_RE = re.compile(r"[^\w ]")  # no "|_" alternative: it would halve the speed


def words_only(folded: str) -> str:
    """Every character that is not a letter or digit becomes a space (same length, so offsets still hold).

    The matcher searches this form: then a word boundary is simply a space, "U.S." reads "u s ", "l'OTAN"
    reads "l otan" and "100,000" reads "100 000".
    """
    return _NOT_WORD_CHAR_RE.sub(" ", folded)


def fold(text: str) -> str:
    """Fold a term or a text for comparison (no offsets): see the module docstring."""
    return _fold_string(text) if text else text


def normalize(text: str) -> Normalized:
    """Fold `text` and keep the map from folded to original character offsets."""
    if not text:
        return Normalized(text, text)
    if text.isascii():
        folded = text.lower().replace("-", " ")
        return Normalized(text, folded)
    if _irregular_chars_re().search(text) is None:
        folded = _fold_string(text)
        if len(folded) == len(text):
            return Normalized(text, folded)
    return _normalize_by_segments(text)


def _normalize_by_segments(text: str) -> Normalized:
    """Slow path: fold the whole string, then derive the offsets from where the irregular characters are.

    Each original character contributes `_folded_length(char)` folded characters (0 for a combining mark,
    2 for ``ß``); runs of one-to-one characters become `range`s, so building the table stays in C.
    """
    folded = _fold_string(text)
    offsets: list[int] = []
    position = 0
    for match in _irregular_chars_re().finditer(text):
        offsets.extend(range(position, match.start()))
        offsets.extend([match.start()] * _folded_length(match.group()))
        position = match.end()
    offsets.extend(range(position, len(text)))
    if len(offsets) != len(folded):
        # The whole-string fold composed characters across a boundary (or a non-BMP character changed
        # length): fold character by character instead, which is exact by construction.
        pieces = [_fold_string(char) for char in text]
        folded = "".join(pieces)
        offsets = [index for index, piece in enumerate(pieces) for _ in piece]
    return Normalized(text, folded, tuple(offsets))


# --- sentences and words -------------------------------------------------------------------------

# A sentence ends at . ! ? (possibly repeated, possibly followed by closing quotes/brackets) followed by
# whitespace, or at a line break. The pattern starts with a character class (no alternation) so the regex
# engine can skip ahead fast; a candidate not followed by whitespace ("2.5", "u.s.") is dropped below.
_SENTENCE_END_RE = re.compile(r"[.!?\n][.!?\"'»”“)\]\n]*\s*")

# Folded abbreviations (several languages) after which a full stop rarely ends the sentence.
ABBREVIATIONS = frozenset(
    "mrs gen col sgt capt gov sen rep adm maj cmdr lt jr sr vs approx est dept "
    "tys mln mld mlrd tzw np ok ul plk godz "
    "тыс млн млрд ген см тт ок тис "
    "bzw usw inkl ca nr dr prof "
    "mme mlle env cf "
    "sra srta aprox num".split()
)


def sentence_starts(folded: str) -> list[int]:
    """Start offsets of the sentences of a folded text (the first is always 0).

    A full stop after a word of one or two letters, or after a common abbreviation, does not end a
    sentence: that is an initial or an abbreviation far more often than a sentence end ("U.S.", "Mr.",
    "z. B.", "г.", "100 tys. żołnierzy", "ген. Герасимов").
    """
    starts = [0]
    for match in _SENTENCE_END_RE.finditer(folded):
        end = match.end()
        if end >= len(folded):
            break
        if not folded[end - 1].isspace():
            continue  # "2.5", "u.s.", "?!" inside a token
        mark = match.start()
        if folded[mark] == "." and _is_abbreviation(folded[folded.rfind(" ", 0, mark) + 1 : mark]):
            continue
        starts.append(end)
    return starts


def _is_abbreviation(word: str) -> bool:
    word = word.lstrip("(\"'«“").rsplit(".", 1)[-1]  # "u.s" -> "s"
    return 0 < len(word) <= 2 or word in ABBREVIATIONS
