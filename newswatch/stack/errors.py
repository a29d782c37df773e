"""The local stack's one error type, and the text of a helper command's failure.

Every start-up failure reaches the operator as a ``StackError`` whose message says what failed,
shows the command's own words (and where its log is), and gives the fix: never a bare traceback.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path


class StackError(RuntimeError):
    """The local stack could not do what was asked; the message says why, where the log is, and the fix."""


def command_failed(
    what: str,
    argv: Sequence[str],
    outcome: str,
    output: str,
    fix: str,
    log: Path | None = None,
    output_lines: int = 20,
) -> StackError:
    """The error for a helper command that failed: ``outcome`` is e.g. "exited with code 1"."""
    shown = "\n".join(output.strip().splitlines()[-output_lines:]) or "(it printed nothing)"
    where = f" Its output (all of it in {log}):" if log is not None else " Its output:"
    return StackError(f"{what}: `{shlex.join(argv)}` {outcome}.{where}\n{shown}\nFix: {fix}")


def decoded(output: str | bytes | None) -> str:
    """Captured output as text (``TimeoutExpired`` carries bytes even when the run asked for text)."""
    if output is None:
        return ""
    return output.decode(errors="replace") if isinstance(output, bytes) else output
