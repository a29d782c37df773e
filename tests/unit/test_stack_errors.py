"""Failures of the local stack's file and process handling reach the operator as one clear error that
names the path or process and the fix, never as a traceback (`newswatch stack up/down/reset`)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.stack.elasticsearch import EsLayout, install_home
from newswatch.stack.errors import StackError
from newswatch.stack.process import stop


def damaged_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("elasticsearch-9.9.9/bin/elasticsearch", b"#!/bin/sh\necho node\n" * 50)
    data = bytearray(path.read_bytes())
    data[60:70] = b"XXXXXXXXXX"  # inside the stored member: its CRC no longer matches
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_download_is_a_clear_error_that_says_to_fetch_it_again(tmp_path: Path) -> None:
    archive = damaged_zip(tmp_path / "elasticsearch-9.9.9.zip")
    layout = EsLayout(tmp_path / "state" / "elasticsearch")
    layout.root.mkdir(parents=True)
    with pytest.raises(StackError) as caught:
        install_home(archive, layout, "9.9.9")
    message = str(caught.value)
    assert f"could not unpack {archive}" in message and "delete it and run `newswatch stack up`" in message
    assert list(layout.root.iterdir()) == []  # no half-unpacked staging directory left behind


class _SomeoneElsesProcess:
    """A process this user may not signal (as for a non-root `down` of a node run by root)."""

    pid = 4242

    def terminate(self) -> None:
        raise psutil.AccessDenied(self.pid)

    def username(self) -> str:
        return "newswatch-es"


def test_a_process_this_user_may_not_stop_is_a_clear_error_naming_its_owner() -> None:
    with pytest.raises(StackError, match=r"not allowed to stop pid 4242: it runs as newswatch-es.*Fix: run"):
        stop(_SomeoneElsesProcess(), timeout=1.0)  # type: ignore[arg-type]


def test_stack_down_prints_such_a_failure_as_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newswatch.stack import local

    def refuse(self: object) -> dict[str, str]:
        raise StackError("not allowed to stop pid 4242: it runs as newswatch-es. Fix: run it as root")

    monkeypatch.setattr(local.LocalStack, "down", refuse)
    result = CliRunner().invoke(app, ["stack", "down"], env={"NEWSWATCH_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "error: not allowed to stop pid 4242" in result.stderr
