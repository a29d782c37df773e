"""Alert rules: the YAML a watch desk writes, parsed into typed, validated ``Rule`` values.

Pure: ``parse_rules`` takes the file's text plus what the rest of the system offers (configured
channel names, the article fields) and either returns every rule or raises ``RulesError`` listing
*every* problem as "rule, field, reason" — so a bad file is fixed in one edit, not one error at a time.

Rules file (one entry per rule, a list at the top or under ``rules:``)::

    - name: troop-buildup                       # lowercase letters, digits, - and _
      query: 'tags:"troop-buildup"'             # Elasticsearch query-string syntax over article fields
      window: 15m                               # counted by the article's time (`published`)
      threshold: 8                              # matching articles in one window
      group_by: places                          # optional: one count per value of a keyword field
      cooldown: 30m                             # optional, default: the window
      min_sources: 3                            # optional, default 1: distinct `source` values needed
      channels: [webhook, email]                # optional, default: every configured channel
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from indexers.document import ClusterCapabilities, mappings

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ALLOWED_KEYS = ("name", "query", "window", "threshold", "group_by", "cooldown", "min_sources", "channels")
MAX_WINDOW_SECONDS = 7 * 86400
MAX_MIN_SOURCES = 100  # per-bucket source lists are fetched up to this size (see queries.py)
# Windows advance in steps of about window/30: a burst of `threshold` articles inside 29/30 of the
# window is always seen whole by one window, and a window needs at most ~31 histogram buckets.
STEPS_PER_WINDOW = 30
CONSOLE = "console"


@dataclass(frozen=True)
class Rule:
    name: str
    query: str
    window_seconds: int
    threshold: int
    group_by: str | None = None
    cooldown_seconds: int | None = None  # None: the window
    min_sources: int = 1
    channels: tuple[str, ...] = (CONSOLE,)
    window_text: str = ""  # as written, for people ("15m")

    @property
    def cooldown(self) -> int:
        return self.cooldown_seconds if self.cooldown_seconds is not None else self.window_seconds

    @property
    def step_seconds(self) -> int:
        return window_step(self.window_seconds)

    @property
    def steps_per_window(self) -> int:
        return self.window_seconds // self.step_seconds

    @property
    def fingerprint(self) -> str:
        """Changes when what the rule counts changes; catch-up over old time is skipped then."""
        basis = f"{self.query}|{self.window_seconds}|{self.threshold}|{self.group_by}|{self.min_sources}"
        return hashlib.sha256(basis.encode()).hexdigest()[:16]


class RulesError(ValueError):
    """The rules file cannot be used; the message lists every rule, field and reason."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid alert rules in {source}:\n{listing}")


def parse_duration(text: object) -> int:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"`` -> seconds; anything else raises ValueError saying how to write it."""
    match = _DURATION.match(str(text)) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a duration: write a whole number and a unit s, m, h or d, e.g. 15m")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 1:
        raise ValueError(f"{text!r} is zero: a duration must be at least 1s")
    return seconds


def window_step(window_seconds: int) -> int:
    """The largest whole-second divisor of the window not above window/30 (at least 1 s)."""
    limit = max(1, window_seconds // STEPS_PER_WINDOW)
    return next(d for d in range(limit, 0, -1) if window_seconds % d == 0)


def article_fields() -> dict[str, str]:
    """Field name -> type of the article index (from indexers/document.py), subfields included."""
    fields: dict[str, str] = {}
    for name, spec in mappings(ClusterCapabilities(language_analyzers=False, ilm=False))["properties"].items():
        fields[name] = spec.get("type", "object")
        for sub, sub_spec in spec.get("fields", {}).items():
            fields[f"{name}.{sub}"] = sub_spec["type"]
    return fields


def keyword_fields(fields: Mapping[str, str]) -> list[str]:
    return sorted(name for name, kind in fields.items() if kind == "keyword")


def parse_rules(
    text: str,
    *,
    source: str,
    channels: Collection[str],
    fields: Mapping[str, str] | None = None,
) -> list[Rule]:
    """Parse and validate a rules file's ``text`` (``source`` names it in errors).

    ``channels``: the configured channel names; ``fields``: the article fields (default: the index mapping).
    """
    fields = article_fields() if fields is None else fields
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(source, [f"not valid YAML: {exc}"]) from exc
    if isinstance(data, Mapping) and set(data) == {"rules"}:
        data = data["rules"]
    if not isinstance(data, list) or not data:
        raise RulesError(source, ["expected a non-empty list of rules (at the top level or under `rules:`)"])
    problems: list[str] = []
    rules: list[Rule] = []
    seen: set[str] = set()
    for position, entry in enumerate(data, start=1):
        label = f"rule #{position}"
        if not isinstance(entry, Mapping):
            problems.append(f"{label}: expected a mapping with name, query, window, threshold")
            continue
        if isinstance(entry.get("name"), str) and entry["name"]:
            label = f"rule {entry['name']!r}"
        errors: list[str] = []
        rule = _parse_rule(entry, channels, fields, errors)
        problems += [f"{label}: {error}" for error in errors]
        if rule is not None:
            if rule.name in seen:
                problems.append(f"{label}: name: used by an earlier rule; names must be unique")
            seen.add(rule.name)
            rules.append(rule)
    if problems:
        raise RulesError(source, problems)
    return rules


def _parse_rule(
    entry: Mapping[str, Any], channels: Collection[str], fields: Mapping[str, str], errors: list[str]
) -> Rule | None:
    for key in entry:
        if key not in _ALLOWED_KEYS:
            errors.append(f"{key}: unknown field; a rule has {', '.join(_ALLOWED_KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        errors.append("name: required; lowercase letters, digits, '-' and '_', at most 63 characters")
    query = entry.get("query")
    if not isinstance(query, str) or not query.strip():
        errors.append('query: required; an Elasticsearch query string, e.g. tags:"troop-buildup"')
    else:
        errors += [f"query: {problem}" for problem in query_problems(query, fields)]
    window = _duration(entry, "window", errors, required=True)
    if window is not None and window > MAX_WINDOW_SECONDS:
        errors.append("window: at most 7d")
    cooldown = _duration(entry, "cooldown", errors, required=False)
    threshold = _positive_int(entry, "threshold", errors, required=True)
    min_sources = _positive_int(entry, "min_sources", errors, required=False)
    if min_sources is not None and min_sources > MAX_MIN_SOURCES:
        errors.append(f"min_sources: at most {MAX_MIN_SOURCES}")
    if min_sources is not None and threshold is not None and min_sources > threshold:
        errors.append(f"min_sources: {min_sources} distinct sources need at least as many articles (threshold)")
    group_by = entry.get("group_by")
    keywords = keyword_fields(fields)
    if group_by is not None and group_by not in keywords:
        choices = ", ".join(keywords)
        errors.append(f"group_by: {group_by!r} is not a keyword field of the articles; use one of {choices}")
    rule_channels = _channels(entry.get("channels"), channels, errors)
    if errors:
        return None
    assert isinstance(name, str) and isinstance(query, str) and window is not None and threshold is not None
    return Rule(
        name=name,
        query=query.strip(),
        window_seconds=window,
        threshold=threshold,
        group_by=group_by,
        cooldown_seconds=cooldown,
        min_sources=min_sources or 1,
        channels=rule_channels,
        window_text=str(entry["window"]).strip(),
    )


def _duration(entry: Mapping[str, Any], key: str, errors: list[str], *, required: bool) -> int | None:
    if key not in entry:
        if required:
            errors.append(f"{key}: required; a duration such as 15m")
        return None
    try:
        return parse_duration(entry[key])
    except ValueError as exc:
        errors.append(f"{key}: {exc}")
        return None


def _positive_int(entry: Mapping[str, Any], key: str, errors: list[str], *, required: bool) -> int | None:
    if key not in entry:
        if required:
            errors.append(f"{key}: required; a whole number of articles, at least 1")
        return None
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors.append(f"{key}: {value!r} is not a whole number of at least 1")
        return None
    return value


def _channels(value: object, configured: Collection[str], errors: list[str]) -> tuple[str, ...]:
    """The rule's channels, console always included (every alert is printed on the alerter's console)."""
    if value is None:
        names: list[str] = sorted(configured)
    elif isinstance(value, str):
        names = [value]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        names = list(value)
    else:
        errors.append("channels: expected a list of channel names, e.g. [webhook, email]")
        return ()
    unknown = [name for name in names if name not in configured and name != CONSOLE]
    for name in unknown:
        errors.append(
            f"channels: {name!r} is not configured; configured: {', '.join(sorted({CONSOLE, *configured}))} "
            "(webhook: set NEWSWATCH_ALERTS_WEBHOOK_URL; email: NEWSWATCH_ALERTS_SMTP_HOST and "
            "NEWSWATCH_ALERTS_EMAIL_TO; others: NEWSWATCH_ALERTS_CHANNELS_FILE)"
        )
    return tuple(dict.fromkeys([CONSOLE, *names]))


# A field reference in a query string: `name:` not inside quotes and not escaped (`https\://`).
_FIELD_REF = re.compile(r"(?<![\w.*\\])([A-Za-z_](?:[\w.*]|\\.)*)\s*:")
_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"')


def query_problems(query: str, fields: Mapping[str, str]) -> list[str]:
    """Mistakes a query string parser would not report: unknown fields (they silently match nothing),
    unbalanced quotes and brackets. Elasticsearch validates the full syntax at start (store.py)."""
    problems: list[str] = []
    unescaped_quotes = len(re.findall(r'(?<!\\)"', query))
    if unescaped_quotes % 2:
        problems.append('unbalanced double quote (")')
        return problems
    bare = _QUOTED.sub('""', query)
    depth = 0
    for char in bare:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        problems.append("unbalanced parentheses")
    for escaped in dict.fromkeys(_FIELD_REF.findall(bare)):
        name = re.sub(r"\\(.)", r"\1", escaped)
        if not _known_field(name, fields):
            known = ", ".join(sorted(n for n in fields if "." not in n))
            problems.append(f"unknown field {name!r} (it would match nothing); article fields: {known}")
    return problems


def _known_field(name: str, fields: Mapping[str, str]) -> bool:
    if name.startswith("_") or "*" in name or name in fields:
        return True  # _exists_, _id, wildcards: Elasticsearch expands or checks them
    parent = name.split(".", 1)[0]
    # title.english etc. exist on clusters with language analyzers; scores.<tag> are dynamic
    return fields.get(parent) in ("text", "object")


def rule_names(rules: Iterable[Rule]) -> list[str]:
    return [rule.name for rule in rules]
