"""A single-node Elasticsearch on loopback, from the ``integ-test-zip`` distribution.

Elasticsearch refuses to run as root and offers no override; when newswatch runs as root it
creates an unprivileged system user and runs the node as that user (``runuser``). Nothing about
Elasticsearch itself is weakened: security is off only because the node listens on loopback alone,
exactly as Elasticsearch's own test clusters run this distribution.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from newswatch.stack.errors import StackError, command_failed, decoded
from newswatch.stack.jdk import Jdk


@dataclass(frozen=True)
class EsLayout:
    root: Path  # <state>/elasticsearch

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def launcher_log(self) -> Path:
        return self.logs / "launcher.log"

    @property
    def server_log(self) -> Path:
        return self.logs / "newswatch.log"  # <cluster.name>.log

    @property
    def pid(self) -> Path:
        # ES writes this file itself (-p), so it must live where the ES user can write.
        return self.root / "run" / "elasticsearch.pid"

    @property
    def tracked_pid(self) -> Path:
        return self.root / "elasticsearch.pid.json"

    @property
    def launcher_pid(self) -> Path:
        # Written the moment the launcher starts: the node's own pid is known only seconds later.
        return self.root / "launcher.pid.json"

    def home(self, version: str) -> Path:
        return self.root / f"home-{version}"


def node_settings(layout: EsLayout, http_port: int, transport_port: int) -> dict[str, str]:
    return {
        "cluster.name": "newswatch",
        "node.name": "newswatch-local",
        "discovery.type": "single-node",
        "network.host": "127.0.0.1",
        "http.port": str(http_port),
        "transport.port": str(transport_port),
        "path.data": str(layout.data),
        "path.logs": str(layout.logs),
        "xpack.security.enabled": "false",
        # Free disk on these machines is sometimes tiny; the flood-stage watermark would turn every
        # index read-only, which is an outage for a monitoring pipeline, not a safety net.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        # vm.max_map_count cannot always be raised here; NIO avoids running out of mappings.
        "node.store.allow_mmap": "false",
    }


def install_home(zip_path: Path, layout: EsLayout, version: str) -> Path:
    """Unpack the distribution into the state directory (it needs a writable config/ for its keystore)."""
    from newswatch.stack.artifacts import extract_zip

    home = layout.home(version)
    if (home / "bin" / "elasticsearch").is_file():
        return home
    staging = layout.root / f".unpack-{version}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        unpacked = extract_zip(zip_path, staging)
        unpacked.rename(home)
    except (zipfile.BadZipFile, OSError) as exc:  # a damaged download, a full disk, a read-only state dir
        shutil.rmtree(staging, ignore_errors=True)
        raise StackError(
            f"could not unpack {zip_path} into {layout.root}: {exc}. Fix: check the free space and "
            f"permissions of {layout.root}; if the archive is damaged, delete it and run `newswatch stack up` "
            "again to download it anew."
        ) from exc
    shutil.rmtree(staging)
    return home


def ensure_service_user(name: str) -> pwd.struct_passwd:
    """The unprivileged system user that runs the node when newswatch runs as root, created if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    argv = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]
    what = (
        f"Elasticsearch refuses to run as root, so newswatch runs it as the system user {name!r}, "
        "which could not be created"
    )
    fix = (
        f"create the user yourself (`{' '.join(argv)}`), or name an existing unprivileged user "
        "with NEWSWATCH_ELASTICSEARCH_USER=<name>."
    )
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    except subprocess.TimeoutExpired as exc:
        raise command_failed(what, argv, "did not finish within 30 s", decoded(exc.output), fix) from exc
    except OSError as exc:
        raise command_failed(what, argv, f"could not be run ({exc.strerror or exc})", "", fix) from exc
    if done.returncode != 0:
        raise command_failed(what, argv, f"exited with code {done.returncode}", done.stdout, fix)
    try:
        return pwd.getpwnam(name)
    except KeyError as exc:
        raise command_failed(what, argv, "succeeded, yet the user does not exist", done.stdout, fix) from exc


def untraversable_parent(path: Path) -> Path | None:
    """The first ancestor that other users cannot enter (the ES user could not reach ``path``)."""
    for parent in [*reversed(path.parents), path]:
        if parent.exists() and not (parent.stat().st_mode & 0o001):
            return parent
    return None


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """Hand ``path`` and everything below it to ``uid``:``gid`` (the node's user must write there)."""
    try:
        for root, dirs, files in os.walk(path, onerror=_raise):
            os.chown(root, uid, gid)
            for name in dirs + files:
                os.lchown(os.path.join(root, name), uid, gid)
    except OSError as exc:  # e.g. a read-only or root-squashed (NFS) state directory
        raise StackError(
            f"could not hand {path} to uid {uid} (the user Elasticsearch runs as): {exc}. Fix: put the state "
            "directory on a local, writable file system with NEWSWATCH_STATE_DIR."
        ) from exc


def _raise(error: OSError) -> None:
    raise error


def launch_argv(
    home: Path, layout: EsLayout, settings: dict[str, str], env: dict[str, str], run_as: str | None
) -> list[str]:
    """``-d`` makes the launcher return only once the node is up (exit 0) or has failed (non-zero)."""
    argv = [str(home / "bin" / "elasticsearch"), "-d", "-p", str(layout.pid)]
    for key, value in settings.items():
        argv += ["-E", f"{key}={value}"]
    if run_as is None:
        return argv
    # runuser starts from a clean environment; `env` hands the launcher what it needs.
    return ["runuser", "-u", run_as, "--", "env", *(f"{k}={v}" for k, v in env.items()), *argv]


def launch_env(jdk: Jdk, heap: str, home: Path, base: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in base.items() if key in ("PATH", "LANG")}
    env.update(
        {
            "ES_JAVA_HOME": str(jdk.home),
            # Without -Xms/-Xmx Elasticsearch sizes its heap to half the machine's memory.
            "ES_JAVA_OPTS": f"-Xms{heap} -Xmx{heap}",
            "ES_PATH_CONF": str(home / "config"),
        }
    )
    return env
