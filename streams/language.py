"""Offline language identification for news text (py3langid; its model ships inside the package).

`detect_language(text)` returns an ISO 639-1 code. Three choices make it reliable on short news items:

* Identification is restricted to the languages a European news monitor actually receives
  (`NEWS_LANGUAGES`). The full model (140 labels) confuses short Ukrainian with Belarusian or Russian
  with Bulgarian/Macedonian, and Spanish with Galician; removing improbable neighbours fixes most of that.
* The monitor's main languages (`PRIMARY_LANGUAGES`) get a prior of `PRIMARY_PRIOR` (log-likelihood
  units): a one-line, name-heavy headline ("Lavrov and Blinken met in Geneva") scores Dutch a few units
  above English, while real Dutch text beats English by tens of units, so the prior only decides close
  calls.
* Only the first `MAX_CHARS` characters are read: the title and the first sentence identify the language
  as well as the whole text (no error on the 274 articles of tests/corpus/tagging at 240 characters), and
  the identifier walks its input byte by byte in Python, so its cost grows with the length (~110 µs here).

Fallback: text with no letters (empty, only digits/punctuation/URLs) gets `UNDETERMINED` ("und", the
BCP 47 code for "undetermined"), never a guess.
"""

from __future__ import annotations

import re
from functools import cache

UNDETERMINED = "und"
MAX_CHARS = 240
PRIMARY_LANGUAGES = frozenset({"en", "ru", "uk", "de", "fr", "pl", "es"})
PRIMARY_PRIOR = 8.0

# What the collectors' feeds carry, plus neighbours that a monitor should not mislabel as one of them.
NEWS_LANGUAGES = (
    "en", "ru", "uk", "be", "pl", "de", "fr", "es", "it", "pt", "nl", "cs", "sk", "sl", "hr", "sr", "bg",
    "ro", "hu", "el", "tr", "fi", "sv", "da", "no", "et", "lv", "lt", "ka", "hy", "az", "kk", "ar", "fa",
    "he", "zh", "ja", "ko",
)  # fmt: skip

_LETTER_RE = re.compile(r"[^\W\d_]")
_URL_RE = re.compile(r"https?://\S+|www\.\S+")


@cache
def _identifier():  # type: ignore[no-untyped-def]  # py3langid is untyped
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
    identifier.set_languages(list(NEWS_LANGUAGES))
    return identifier


def detect_language(text: str) -> str:
    """The ISO 639-1 code of `text`'s language, or "und" when the text has no letters."""
    sample = _URL_RE.sub(" ", text[: MAX_CHARS + 200])[:MAX_CHARS]
    if not _LETTER_RE.search(sample):
        return UNDETERMINED
    ranked = _identifier().rank(sample)
    best = max(ranked[:8], key=lambda pair: pair[1] + (PRIMARY_PRIOR if pair[0] in PRIMARY_LANGUAGES else 0.0))
    return str(best[0])
