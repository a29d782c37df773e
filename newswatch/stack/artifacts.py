"""Fetch the stack's servers from Maven Central once, into the cache directory, and reuse them.

- Kafka: ``org.apache.kafka:kafka_2.13`` with its runtime dependencies, plus exactly one logging
  backend (the POM leaves Log4j 2 and the SLF4J binding out: Kafka's release tarball adds them).
- Elasticsearch: ``org.elasticsearch.distribution.integ-test-zip:elasticsearch:<v>:zip``.

A ``.complete`` marker is written last, so an interrupted download is redone rather than trusted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

Progress = Callable[[str], None]

# Kafka 4.x logs through SLF4J 1.7 -> Log4j 2. Its POM names no Log4j version (the release tarball
# bundles one), so newswatch pins one: the version this repository's tests run Kafka 4.4.0 with.
LOG4J_VERSION = "2.24.3"
_DOWNLOADED = re.compile(r"Downloaded from \S+: \S+/([^/\s]+) \(")


class ArtifactError(RuntimeError):
    """Maven could not deliver an artifact; the message carries Maven's own words and the fix."""


def _run_maven(maven: str, args: list[str], progress: Progress, what: str) -> None:
    if shutil.which(maven) is None:
        raise ArtifactError(
            f"Maven (`{maven}`) is not on PATH; it fetches {what} from Maven Central. "
            "Fix: `apt-get install maven`, or set NEWSWATCH_MAVEN_COMMAND."
        )
    # Batch mode prints one "Downloaded from" line per file, which is what the progress shows.
    cmd = [maven, "-B", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    errors: list[str] = []
    count = 0
    reported = time.monotonic()
    for line in proc.stdout:
        if (match := _DOWNLOADED.search(line)) is not None:
            count += 1
            # Hundreds of small files: one line every few seconds says it is moving without flooding.
            if time.monotonic() - reported >= 3.0 or match.group(1).endswith(".zip"):
                progress(f"{what}: {count} files downloaded (now: {match.group(1)})")
                reported = time.monotonic()
        elif line.startswith("[ERROR]"):
            errors.append(line.rstrip())
    if count:
        progress(f"{what}: {count} files downloaded")
    if proc.wait() != 0:
        detail = "\n".join(errors[:8]) or "(Maven printed no [ERROR] line)"
        raise ArtifactError(f"Maven failed to fetch {what}:\n{detail}")


def kafka_pom(kafka_version: str) -> str:
    template = resources.files("newswatch.stack").joinpath("kafka-pom.xml").read_text()
    return template.replace("@KAFKA_VERSION@", kafka_version).replace("@LOG4J_VERSION@", LOG4J_VERSION)


def ensure_kafka(cache_dir: Path, version: str, maven: str, progress: Progress) -> Path:
    """The directory holding Kafka's jars (``<cache>/kafka-<v>/lib``), downloading it if needed."""
    home = cache_dir / f"kafka-{version}"
    lib = home / "lib"
    if (home / ".complete").is_file():
        # Checked on every start (one directory listing), not only after the download: a jar added
        # to the cache later, or a cache left by an older newswatch, must not go unnoticed.
        check_single_logging_backend(lib)
        return lib
    progress(f"Kafka {version}: resolving jars from Maven Central")
    if lib.exists():
        shutil.rmtree(lib)
    home.mkdir(parents=True, exist_ok=True)
    pom = home / "pom.xml"
    pom.write_text(kafka_pom(version))
    _run_maven(
        maven,
        [
            "-f",
            str(pom),
            "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={lib}",
        ],
        progress,
        f"Kafka {version}",
    )
    check_single_logging_backend(lib)
    (home / ".complete").write_text(version)
    return lib


# The jars that make SLF4J log somewhere: 1.x bindings and 2.x providers, by artifact name. Two
# make SLF4J pick one arbitrarily; none (or one the API line cannot load) silences the broker.
SLF4J_BINDINGS = (
    "log4j-slf4j-impl",
    "log4j-slf4j2-impl",
    "slf4j-log4j12",
    "slf4j-reload4j",
    "slf4j-jdk14",
    "slf4j-jcl",
    "slf4j-nop",
    "slf4j-simple",
    "logback-classic",
)
_JAR = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[^/]*)\.jar$")


def _major_minor(version: str) -> tuple[int, int]:
    major, minor = ([int(part) for part in re.findall(r"\d+", version)[:2]] + [0, 0])[:2]
    return major, minor


def slf4j_line_of_binding(artifact: str, version: str) -> int:
    """The SLF4J API line (1 or 2) a binding serves; 2.x finds providers, 1.x a StaticLoggerBinder."""
    if artifact == "log4j-slf4j2-impl":
        return 2
    if artifact == "log4j-slf4j-impl":
        return 1
    if artifact == "logback-classic":  # logback 1.3 and later are SLF4J 2 providers
        return 2 if _major_minor(version) >= (1, 3) else 1
    return 2 if _major_minor(version)[0] >= 2 else 1  # the slf4j-* bindings share the API's version


def logging_backend_problem(jar_names: list[str]) -> str | None:
    """What is wrong with the logging jars among ``jar_names`` (file names), or None if nothing."""
    jars = [(m["artifact"], m["version"], name) for name in sorted(jar_names) if (m := _JAR.match(name))]
    # Counted by file, not by artifact: two versions of one binding are two bindings too.
    bindings = [(artifact, version, name) for artifact, version, name in jars if artifact in SLF4J_BINDINGS]
    if len(bindings) != 1:
        return f"expected exactly one SLF4J binding, found {', '.join(name for *_, name in bindings) or 'none'}"
    [(binding, binding_version, binding_jar)] = bindings
    for artifact, api_version, api_jar in jars:
        if artifact != "slf4j-api":
            continue
        api_line = 2 if _major_minor(api_version)[0] >= 2 else 1
        binding_line = slf4j_line_of_binding(binding, binding_version)
        if api_line != binding_line:
            return (
                f"{api_jar} (SLF4J {api_line}) cannot use {binding_jar}, a binding for SLF4J {binding_line}: "
                "the broker would log nothing"
            )
    if binding.startswith("log4j-slf4j") and not any(artifact == "log4j-core" for artifact, *_ in jars):
        return f"log4j-core is missing, and {binding_jar} needs it"
    return None


def check_single_logging_backend(lib: Path) -> None:
    """Exactly one logging backend on Kafka's classpath, usable by its SLF4J API, or an ``ArtifactError``."""
    problem = logging_backend_problem([path.name for path in lib.glob("*.jar")])
    if problem is not None:
        raise ArtifactError(
            f"Kafka's classpath {lib}: {problem}. Fix: remove the extra jar, or delete {lib.parent} "
            "so that `newswatch stack up` resolves it again."
        )


def ensure_elasticsearch_zip(cache_dir: Path, version: str, maven: str, progress: Progress) -> Path:
    """The cached integ-test-zip of Elasticsearch ``version``, downloading it if needed."""
    target = cache_dir / "downloads" / f"elasticsearch-{version}.zip"
    if target.is_file() and zipfile.is_zipfile(target):
        return target
    progress(f"Elasticsearch {version}: fetching the integ-test-zip from Maven Central (~100 MB)")
    target.parent.mkdir(parents=True, exist_ok=True)
    _run_maven(
        maven,
        [
            "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy",
            f"-Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip",
            f"-DoutputDirectory={target.parent}",
        ],
        progress,
        f"Elasticsearch {version}",
    )
    if not zipfile.is_zipfile(target):
        raise ArtifactError(f"{target} is not a zip after the download; delete it and retry")
    return target


def extract_zip(archive: Path, destination: Path) -> Path:
    """Unpack keeping the Unix permission bits (``zipfile`` alone drops the exec bits of bin/)."""
    with zipfile.ZipFile(archive) as zf:
        top = zf.namelist()[0].split("/")[0]
        for info in zf.infolist():
            path = Path(zf.extract(info, destination))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)
    return destination / top
