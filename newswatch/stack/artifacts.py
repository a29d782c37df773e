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

# Kafka 4.x logs through SLF4J 1.7 -> Log4j 2; this is the version its 4.1 line builds with.
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


def check_single_logging_backend(lib: Path) -> None:
    """Two SLF4J bindings make logging pick one at random; none silences the broker entirely."""
    names = [p.name for p in lib.glob("*.jar")]
    bindings = [n for n in names if re.match(r"(log4j-slf4j2?-impl|slf4j-reload4j|logback-classic|slf4j-simple)-", n)]
    if len(bindings) != 1:
        raise ArtifactError(f"expected exactly one SLF4J binding in {lib}, found {bindings or 'none'}")
    if not any(n.startswith("log4j-core-") for n in names):
        raise ArtifactError(f"log4j-core is missing from {lib}; Kafka's logging controller needs it")


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
