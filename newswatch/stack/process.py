"""Start, find and stop the stack's server processes through pid files.

A pid file records the pid *and* the process's start time, so ``stop`` never signals a stranger
that reused the pid after a reboot or a crash: it stops exactly what ``up`` started.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class PidFile:
    path: Path

    def write(self, pid: int) -> None:
        proc = psutil.Process(pid)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"pid": pid, "create_time": proc.create_time(), "cmdline": proc.cmdline()[:3]}
        self.path.write_text(json.dumps(record))

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
    """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns how it ended."""
    try:
        proc.terminate()
        proc.wait(timeout=timeout)
        return "stopped"
    except psutil.NoSuchProcess:
        return "already gone"
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return f"killed after {timeout:.0f}s"


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
