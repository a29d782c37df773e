"""The optional compiled speed-ups (``native/``, the ``newswatch-native`` package) and what they need.

Each compiled class has a pure-Python twin that gives identical results (``tests/unit/test_native.py``
compares them), so a worker without the package is only slower. ``module()`` is None when it is not
installed.
"""

from __future__ import annotations

import re
import sys
from array import array
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
def every_character() -> str:
    """Every code point in order, as one string (index == code point), built in C (~0.1 s)."""
    codes = array("I", range(sys.maxunicode + 1)).tobytes()
    return codes.decode(f"utf-32-{'le' if sys.byteorder == 'little' else 'be'}", "surrogatepass")


@cache
def word_char_ranges() -> list[tuple[int, int]]:
    """``[start, end)`` code point ranges of Python's word characters (``str.isalnum()`` or "_").

    Taken from this Python's own regex ``\\w`` over every code point (once per process), so the
    compiled code agrees with Python's Unicode tables whatever version Rust's are.
    """
    return [match.span() for match in re.finditer(r"\w+", every_character())]


@cache
def digit_ranges() -> list[tuple[int, int]]:
    """``[start, end)`` code point ranges of the characters this Python's ``str.isdigit()`` accepts."""
    ranges: list[tuple[int, int]] = []
    for code in map(ord, filter(str.isdigit, every_character())):
        if ranges and ranges[-1][1] == code:
            ranges[-1] = (ranges[-1][0], code + 1)
        else:
            ranges.append((code, code + 1))
    return ranges


@cache
def space_ranges() -> list[tuple[int, int]]:
    """``[start, end)`` code point ranges of the characters this Python's ``str.isspace()`` (and so the
    regex ``\\s``) accepts."""
    return [match.span() for match in re.finditer(r"\s+", every_character())]
