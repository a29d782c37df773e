"""The optional compiled speed-ups (``native/``, the ``newswatch-native`` package) and what they need.

Each compiled class has a pure-Python twin that gives identical results (``tests/unit/test_native.py``
compares them), so a worker without the package is only slower. ``module()`` is None when it is not
installed.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from types import ModuleType


@cache
def module() -> ModuleType | None:
    try:
        import newswatch_native
    except ImportError:
        return None
    return newswatch_native


def enabled() -> bool:
    return module() is not None


@cache
def word_char_ranges() -> list[tuple[int, int]]:
    """``[start, end)`` code point ranges of Python's word characters (``str.isalnum()`` or "_").

    Taken from this Python's own regex ``\\w`` over every code point (~0.1 s, once per process), so the
    compiled code agrees with Python's Unicode tables whatever version Rust's are.
    """
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    return [match.span() for match in re.finditer(r"\w+", everything)]


@cache
def digit_ranges() -> list[tuple[int, int]]:
    """``[start, end)`` code point ranges of the characters this Python's ``str.isdigit()`` accepts (~40 ms)."""
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if chr(code).isdigit():
            if ranges and ranges[-1][1] == code:
                ranges[-1] = (ranges[-1][0], code + 1)
            else:
                ranges.append((code, code + 1))
    return ranges
