"""Reading the gazetteer data files that ship in this package.

One YAML file per kind of name; each entry is a canonical English name plus aliases grouped by
language (the grouping is for the people who maintain the lists; matching ignores the language)::

    - name: Kharkiv
      country: Ukraine            # cities and regions: the country (or ``countries: [...]``)
      aliases:
        en: [Kharkiv, Kharkov]
        ru: ["Харьков{ru_m}"]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from streams.gazetteer.aliases import AliasError, AliasForm, expand

DATA_DIR = Path(__file__).resolve().parent


class Kind(StrEnum):
    COUNTRY = "country"
    CITY = "city"
    REGION = "region"
    ORGANISATION = "organisation"
    PERSON = "person"
    # A phrase that contains a name but means something else ("Washington Post"): it takes part in
    # longest-match resolution and is then dropped.
    BLOCKER = "blocker"

    @property
    def is_place(self) -> bool:
        return self in (Kind.COUNTRY, Kind.CITY, Kind.REGION)


FILES: dict[str, Kind] = {
    "countries.yaml": Kind.COUNTRY,
    "cities.yaml": Kind.CITY,
    "regions.yaml": Kind.REGION,
    "organisations.yaml": Kind.ORGANISATION,
    "people.yaml": Kind.PERSON,
    "blockers.yaml": Kind.BLOCKER,
}


class GazetteerError(ValueError):
    """The data files are inconsistent (unknown country, unparsable alias, clashing aliases)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One named thing: canonical English name, what it is, where it lies, how it is written."""

    name: str
    kind: Kind
    countries: tuple[str, ...]
    aliases: dict[str, tuple[str, ...]]
    # Other entries a mention also stands for (UN Security Council -> United Nations), because the
    # longest match hides the shorter name inside it.
    implies: tuple[str, ...] = ()

    def forms(self) -> list[AliasForm]:
        """Every surface form of every alias, the canonical name itself included."""
        own_name = [] if self.kind is Kind.BLOCKER else [self.name]
        written = [*own_name, *(a for group in self.aliases.values() for a in group)]
        out: list[AliasForm] = []
        for alias in written:
            try:
                out.extend(expand(alias))
            except AliasError as exc:
                raise GazetteerError(f"{self.kind} {self.name!r}: {exc}") from exc
        return out


def load_entries(directory: Path = DATA_DIR) -> list[Entry]:
    """All entries of all data files in ``directory``, validated against each other."""
    entries: list[Entry] = []
    for filename, kind in FILES.items():
        path = directory / filename
        with path.open(encoding="utf-8") as handle:
            document = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if not isinstance(document, list):
            raise GazetteerError(f"{path}: expected a list of entries")
        entries.extend(_entry(item, kind, path) for item in document)
    validate(entries)
    return entries


def _entry(item: Any, kind: Kind, path: Path) -> Entry:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise GazetteerError(f"{path}: every entry needs a string 'name': {item!r}")
    aliases = item.get("aliases") or {}
    if not isinstance(aliases, dict) or not all(isinstance(v, list) for v in aliases.values()):
        raise GazetteerError(f"{path}: {item['name']!r}: 'aliases' must map language -> list")
    countries = item.get("countries") or ([item["country"]] if item.get("country") else [])
    return Entry(
        name=item["name"],
        kind=kind,
        countries=tuple(countries),
        aliases={str(lang): tuple(str(a) for a in group) for lang, group in aliases.items()},
        implies=tuple(item.get("implies") or ()),
    )


def validate(entries: Iterable[Entry]) -> None:
    entries = list(entries)
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise GazetteerError(f"canonical names used twice: {duplicates}")
    countries = {e.name for e in entries if e.kind is Kind.COUNTRY}
    known = {e.name for e in entries if e.kind is not Kind.BLOCKER}
    for entry in entries:
        unknown = [c for c in entry.countries if c not in countries]
        if unknown:
            raise GazetteerError(f"{entry.kind} {entry.name!r}: unknown country {unknown}")
        if entry.kind in (Kind.COUNTRY, Kind.BLOCKER) and entry.countries:
            raise GazetteerError(f"{entry.kind} {entry.name!r} cannot lie in a country")
        unknown = [n for n in entry.implies if n not in known or n == entry.name]
        if unknown:
            raise GazetteerError(f"{entry.kind} {entry.name!r}: implies unknown names {unknown}")
