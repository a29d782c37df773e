"""Start, find and stop the stack's server processes through pid files.

A pid file records the pid *and* the process's start time, so ``stop`` never signals a stranger
that reused the pid after a reboot or a crash: it stops exactly what ``up`` started.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from newswatch.stack.errors import StackError


@dataclass(frozen=True)
class PidFile:
    path: Path

    def write(self, pid: int) -> None:
        proc = psutil.Process(pid)
        try:
            cmdline = proc.cmdline()[:3]
        except psutil.Error:  # it already exited (a zombie until reaped): its start time is still known
            cmdline = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"pid": pid, "create_time": proc.create_time(), "cmdline": cmdline}
        self.path.write_text(json.dumps(record))

    def recorded(self) -> Launch | None:
        """The pid and start time written here, whether or not that process still lives."""
        try:
            record = json.loads(self.path.read_text())
            return Launch(pid=int(record["pid"]), create_time=float(record["create_time"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def process(self) -> psutil.Process | None:
        """The live process this file names, or None (no file, dead, or the pid was reused)."""
        try:
            record = json.loads(self.path.read_text())
            proc = psutil.Process(int(record["pid"]))
            if abs(proc.create_time() - float(record["create_time"])) > 1.0:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (FileNotFoundError, ValueError, KeyError, psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Launch:
    """A process ``spawn`` started: the leader of a new session that its descendants inherit."""

    pid: int
    create_time: float


@dataclass(frozen=True)
class ProcessView:
    """What ``launched_by`` needs to know of one running process."""

    pid: int
    session: int
    create_time: float
    cmdline: tuple[str, ...]


def launched_by(launch: Launch, processes: Iterable[ProcessView], marker: str) -> list[int]:
    """The pids that belong to ``launch``, youngest first (the server before the launchers that wait on it).

    A member is in the launch's session (``spawn`` opens a new one, and the launcher's children
    keep it), started no earlier than the launch, and names ``marker`` (the service's own directory)
    on its command line. The session id alone would not do: once every member has exited, the
    number may be reused by an unrelated session; the start time and the marker rule that out.
    """
    members = [
        view
        for view in processes
        if view.session == launch.pid
        and view.create_time >= launch.create_time - 1.0
        and any(marker in argument for argument in view.cmdline)
    ]
    return [view.pid for view in sorted(members, key=lambda view: view.create_time, reverse=True)]


def running_processes() -> list[ProcessView]:
    views = []
    for proc in psutil.process_iter(["pid", "create_time", "cmdline"]):
        try:
            session = os.getsid(proc.info["pid"])
        except OSError:  # exited meanwhile
            continue
        cmdline = tuple(proc.info["cmdline"] or ())
        views.append(ProcessView(proc.info["pid"], session, proc.info["create_time"] or 0.0, cmdline))
    return views


def launch_members(launch: Launch | None, marker: str) -> list[psutil.Process]:
    """The live processes of ``launch`` (see ``launched_by``), youngest first."""
    if launch is None:
        return []
    members = []
    for pid in launched_by(launch, running_processes(), marker):
        try:
            members.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return members


def spawn(
    argv: Sequence[str], *, log_path: Path, env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a detached server process (own session: Ctrl-C in the terminal does not reach it).

    The previous run's log is kept as ``<log>.1``, so readiness checks only read this run's lines.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists():
        log_path.replace(log_path.with_name(log_path.name + ".1"))
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )


def stop(proc: psutil.Process, timeout: float) -> str:
    """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns how it ended; raises ``StackError`` when
    this user may not signal the process (its pid file must then be kept: it still runs)."""
    try:
        proc.terminate()
    except psutil.NoSuchProcess:
        return "already gone"
    except psutil.AccessDenied as exc:
        raise _not_permitted(proc) from exc
    if exited(proc, timeout):
        return "stopped"
    try:
        proc.kill()
    except psutil.NoSuchProcess:
        return "stopped"
    except psutil.AccessDenied as exc:
        raise _not_permitted(proc) from exc
    if exited(proc, 10.0):
        return f"killed after {timeout:.0f}s"
    return f"still running 10s after SIGKILL (pid {proc.pid})"


def _not_permitted(proc: psutil.Process) -> StackError:
    try:
        owner = proc.username()
    except psutil.Error:
        owner = "another user"
    return StackError(
        f"not allowed to stop pid {proc.pid}: it runs as {owner}, and this command as uid {os.getuid()}. "
        f"Fix: run `newswatch stack down` as {owner} or as root (the user who ran `newswatch stack up`)."
    )


def exited(proc: psutil.Process, timeout: float, reap_grace: float = 2.0) -> bool:
    """Whether ``proc`` ends within ``timeout``: gone, or a zombie (dead, its parent has yet to reap it).

    A zombie holds nothing any more, not even its port, and a launcher that never reaps its children
    would make waiting for the pid to vanish wait forever; it gets ``reap_grace`` seconds to vanish
    (init reaps an orphan at once), so callers usually see the pid gone.
    """
    deadline = time.monotonic() + timeout
    reaped_by: float | None = None
    while True:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                with contextlib.suppress(psutil.Error, ChildProcessError):
                    proc.wait(timeout=0)  # reaps it if it is this process's child
                reaped_by = reaped_by or time.monotonic() + reap_grace
                if time.monotonic() >= reaped_by:
                    return True
                time.sleep(0.05)
                continue
            proc.wait(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
            return True
        except psutil.NoSuchProcess:
            return True
        except psutil.TimeoutExpired:
            if time.monotonic() >= deadline:
                return False


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def who_listens(port: int) -> str:
    """A short description of the process listening on ``port``, when the OS lets us see it."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({' '.join(proc.cmdline()[:2]) or proc.name()})"
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass
    return "another program"


def tail(path: Path, lines: int = 30) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(content[-lines:])
