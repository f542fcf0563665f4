"""The match keys of the FinOps layer (PRODUCT.md, "Match keys"): which spend a rule or a
budget scope is about.

A ``match`` mapping has keys among ``MATCH_KEYS`` (and the names of allocations: ``Team:
Search``), each a name or a list of names (any of them). A value is an id or a name exactly as
the dashboard shows it ("Default workspace" for the null workspace, "Console / Workbench" for
the null key); ``*`` is the one wildcard, a whole-value, case-sensitive glob (other glob
characters, ``?`` and ``[``, are themselves: names have brackets). Every key must match (and);
an empty mapping matches all spend.

A null model, service tier, token type or cost type matches no pattern (a web search line has
no model: ``model: "*"`` is the token spend). The null workspace is the Default workspace, the
null key the Console / Workbench, a Console organization's null product "Claude API (Console)".

``api_key`` and ``actor`` are about per-key (per-actor) billed cost: an allocation divides a
cost row by it (``app.finops.allocation_keys``); against a row without per-key data (a budget
scope, an organization without that API) they match nothing, and ``Match.needs_per_key`` lets
the caller say so instead of matching nothing silently.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from app.finops.rule_files import RuleFileError, line_of
from app.models import Provider
from app.reports import labels
from app.reports.model_names import model_name

MATCH_KEYS: tuple[str, ...] = (
    "organization",
    "workspace",
    "api_key",
    "model",
    "service_tier",
    "cost_type",
    "token_type",
    "actor",
    "product",
    "provider",
)
# The keys only per-key (per-actor) billed cost has.
PER_KEY_KEYS = frozenset({"api_key", "actor"})


@dataclass(frozen=True)
class SpendRow:
    """One group of spend, as the match keys see it (ids and the names the dashboard shows).

    ``per_key``: the row comes from per-key billed cost (``api_key_id`` null there is the
    Console / Workbench); a cost report row has no key and ``api_key``/``actor`` rules never
    match it. ``allocations``: the value of each allocation already computed for this row."""

    organization_id: str
    organization_name: str
    provider: str = Provider.CONSOLE
    workspace_id: str | None = None
    workspace_name: str = labels.DEFAULT_WORKSPACE
    model: str | None = None
    service_tier: str | None = None
    cost_type: str | None = None
    token_type: str | None = None
    product: str | None = None
    per_key: bool = False
    api_key_id: str | None = None
    api_key_name: str | None = None
    actor_id: str | None = None
    actor_name: str | None = None
    organization_label: str | None = None
    allocations: Mapping[str, str] = field(default_factory=dict)

    def candidates(self, key: str) -> tuple[str, ...]:
        """The strings a pattern of ``key`` is tried against (id, then the shown name)."""
        if key == "organization":
            return _present(self.organization_id, self.organization_name, self.organization_label)
        if key == "workspace":
            return _present(self.workspace_id, self.workspace_name)
        if key == "model":
            return () if self.model is None else _present(self.model, model_name(self.model))
        if key == "service_tier":
            return _labelled(self.service_tier, labels.service_tier_label)
        if key == "cost_type":
            return _labelled(self.cost_type, labels.cost_type_label)
        if key == "token_type":
            return _labelled(self.token_type, labels.token_type_label)
        if key == "product":
            enterprise = self.provider == Provider.ENTERPRISE
            shown = labels.product_label(self.product, enterprise=enterprise)
            return _present(self.product, shown)
        if key == "provider":
            return _present(self.provider, labels.provider_label(self.provider))
        if key == "api_key":
            if not self.per_key:
                return ()
            if self.api_key_id is None:
                return (labels.CONSOLE_KEY,)
            return _present(self.api_key_id, self.api_key_name)
        if key == "actor":
            return _present(self.actor_id, self.actor_name) if self.per_key else ()
        value = self.allocations.get(key)
        return () if value is None else (value,)


def _present(*values: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v is not None))


def _labelled(value: str | None, label: Any) -> tuple[str, ...]:
    return () if value is None else _present(value, label(value))


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    """A ``*`` glob as a regular expression; None when the pattern has no wildcard."""
    if "*" not in pattern:
        return None
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def pattern_matches(pattern: str, value: str) -> bool:
    """Whether ``value`` is ``pattern`` (``*`` any run of characters; whole value, case-
    sensitive)."""
    regexp = _compiled(pattern)
    return value == pattern if regexp is None else regexp.fullmatch(value) is not None


@dataclass(frozen=True)
class Term:
    """One key of a match and its patterns (any of them)."""

    key: str
    patterns: tuple[str, ...]
    line: int

    def matches(self, row: SpendRow) -> bool:
        return any(
            pattern_matches(pattern, value)
            for value in row.candidates(self.key)
            for pattern in self.patterns
        )


@dataclass(frozen=True)
class Match:
    """A parsed ``match`` mapping: every term must match (an empty one matches all spend)."""

    terms: tuple[Term, ...] = ()
    line: int = 1

    @property
    def needs_per_key(self) -> bool:
        """It is about API keys or actors: it matches only per-key (per-actor) billed cost."""
        return any(term.key in PER_KEY_KEYS for term in self.terms)

    @property
    def allocation_keys(self) -> tuple[str, ...]:
        """The allocations it names (their values must be computed before it is applied)."""
        return tuple(term.key for term in self.terms if term.key not in MATCH_KEYS)

    def matches(self, row: SpendRow) -> bool:
        return all(term.matches(row) for term in self.terms)

    def as_mapping(self) -> dict[str, str | list[str]]:
        """The mapping it was read from (a single name stays a string): what export writes."""
        return {
            term.key: term.patterns[0] if len(term.patterns) == 1 else list(term.patterns)
            for term in self.terms
        }


def parse_match(
    mapping: Any,
    line: int,
    *,
    allocation_names: Collection[str] = (),
    what: str = "match",
) -> Match:
    """A ``match`` mapping of a rule file, validated. ``line``: the line of the rule (used when
    the mapping itself has none); ``allocation_names``: the allocations it may name besides the
    match keys. Raises ``RuleFileError`` naming the line and the reason."""
    if mapping is None:
        return Match((), line)
    own_line = line_of(mapping, line) or line
    if not isinstance(mapping, Mapping):
        raise RuleFileError(own_line, f"{what} must be a mapping of match keys to names")
    terms: list[Term] = []
    for key, value in mapping.items():
        key_line = _key_line(mapping, key, own_line)
        if not isinstance(key, str) or (key not in MATCH_KEYS and key not in allocation_names):
            known = ", ".join(MATCH_KEYS)
            extra = (
                f" or an allocation ({', '.join(sorted(allocation_names))})"
                if (allocation_names)
                else " or the name of an allocation"
            )
            raise RuleFileError(
                key_line, f"unknown {what} key {key!r}: the keys are {known}{extra}"
            )
        terms.append(Term(key, _patterns(key, value, key_line), key_line))
    return Match(tuple(terms), own_line)


def _key_line(mapping: Mapping[Any, Any], key: Any, default: int) -> int:
    key_line = getattr(mapping, "key_line", None)
    return int(key_line(key)) if callable(key_line) else default


def _patterns(key: str, value: Any, line: int) -> tuple[str, ...]:
    values: Iterable[Any] = value if isinstance(value, list) else [value]
    patterns: list[str] = []
    for item in values:
        if not isinstance(item, str):
            shown = "a list" if isinstance(item, list) else f"{item!r}"
            raise RuleFileError(
                line,
                f"{key}: {shown} is not a name; write each name as text "
                f'(quote numbers and dates: "{item}")',
            )
        if item == "":
            raise RuleFileError(line, f"{key}: an empty name matches nothing")
        patterns.append(item)
    if not patterns:
        raise RuleFileError(line, f"{key}: an empty list matches nothing")
    return tuple(dict.fromkeys(patterns))
