"""Allocating one organization-day of spend by an allocation's rules: pure, no database.

Each group of cost (one row per combination of the match keys a cost row has) goes to the
first rule, in order, that is in effect that day and matches it; a group no rule matches goes
to the default value. A split rule divides its group among its values: ``even``, ``fixed``
(weights summing to 100) or ``proportional`` to each value's spend matched directly (by value
rules) that same organization-day, evenly when that is zero (or when credits make it negative
somewhere: a share must not be below zero).

Amounts are exact: a split divides the group's amount in the smallest stored unit (a
millionth of a cent, ``app.models.CENTS_SCALE``) by largest remainder, so the parts of a group
add up to the group exactly, and a day's allocated lines to the day's billed total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.finops.match import Match, SpendRow, Term, pattern_matches
from app.models import CENTS_SCALE

SPLIT_METHODS = ("even", "proportional", "fixed")
_SHARE_QUANTUM = Decimal(1).scaleb(-CENTS_SCALE)


@dataclass(frozen=True)
class Rule:
    """One rule: a value, or a split among ``targets`` (value, weight; weight 1 unless fixed)."""

    position: int
    line: int
    match: Match
    value: str | None = None
    method: str | None = None
    targets: tuple[tuple[str, Decimal], ...] = ()
    effective_from: date | None = None
    effective_to: date | None = None

    def in_effect(self, day: date) -> bool:
        if self.effective_from is not None and day < self.effective_from:
            return False
        return self.effective_to is None or day < self.effective_to

    @property
    def values(self) -> tuple[str, ...]:
        """The values it may allocate to."""
        return (self.value,) if self.value is not None else tuple(v for v, _ in self.targets)


@dataclass(frozen=True)
class AllocationSpec:
    """An allocation as a file defines it."""

    name: str
    default: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Part:
    """The part of a group (by its index) allocated to ``value``."""

    group: int
    value: str
    rule_position: int | None
    share_percent: Decimal | None
    amount_cents: Decimal


def split_units(units: int, weights: Sequence[int]) -> list[int]:
    """``units`` divided by integer ``weights`` (each >= 0, their sum > 0) in whole units, by
    largest remainder: the parts add up to ``units`` exactly; ties go to the earlier weight.
    Integers throughout (no fractions): this runs for every split row of every day."""
    total = sum(weights)
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError("weights must be >= 0 with a positive sum")
    sign = -1 if units < 0 else 1
    magnitude = abs(units)
    divided = [divmod(magnitude * w, total) for w in weights]
    parts = [whole for whole, _ in divided]
    left = magnitude - sum(parts)
    if left:
        by_remainder = sorted(range(len(divided)), key=lambda i: (-divided[i][1], i))
        for i in by_remainder[:left]:
            parts[i] += 1
    return [sign * part for part in parts]


def split_amount(amount_cents: Decimal, weights: Sequence[int]) -> list[Decimal]:
    """An exact amount of cents split by integer ``weights`` at the stored precision (its
    parts add up to it exactly)."""
    units = int(amount_cents.scaleb(CENTS_SCALE).to_integral_value())
    return [Decimal(part).scaleb(-CENTS_SCALE) for part in split_units(units, weights)]


def share_percent(weight: int, total: int) -> Decimal:
    """``weight`` of ``total`` in percent, at the stored precision (what a line shows)."""
    return (Decimal(weight * 100) / Decimal(total)).quantize(_SHARE_QUANTUM)


def integer_weights(weights: Sequence[Decimal]) -> list[int]:
    """Decimal weights (60, 40; 33.5, 66.5) as integers in the same proportions."""
    places = 0
    for weight in weights:
        exponent = weight.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < 0:
            places = max(places, -exponent)
    return [int(w.scaleb(places)) for w in weights]


def first_rule(rules: Sequence[Rule], candidates: Sequence[int], day: date) -> Rule | None:
    """The first of the matching rules (by index into ``rules``) in effect on ``day``."""
    for index in candidates:
        if rules[index].in_effect(day):
            return rules[index]
    return None


def matching_rules(spec: AllocationSpec, row: SpendRow) -> tuple[int, ...]:
    """The indexes of the rules that match ``row`` on some day (dates aside): computed once
    per distinct group, then each day picks the first in effect."""
    return tuple(i for i, rule in enumerate(spec.rules) if rule.match.matches(row))


class RuleIndex:
    """``matching_rules`` key by key: a row's value of each key is tried against every rule's
    patterns once (a bit per rule that accepts it), and a row's rules are the bits left after
    every key. A large organization's day has thousands of distinct rows but each key only a
    few dozen values, so a row costs a dictionary lookup per key instead of every pattern."""

    def __init__(self, spec: AllocationSpec) -> None:
        self._terms: list[dict[str, Term]] = [
            {term.key: term for term in rule.match.terms} for rule in spec.rules
        ]
        self._keys = tuple(dict.fromkeys(k for terms in self._terms for k in terms))
        self._all = (1 << len(spec.rules)) - 1
        self._masks: dict[tuple[str, tuple[str, ...]], int] = {}

    def matching(self, row: SpendRow) -> tuple[int, ...]:
        mask = self._all
        for key in self._keys:
            candidates = row.candidates(key)
            found = self._masks.get((key, candidates))
            if found is None:
                found = self._masks[(key, candidates)] = self._mask(key, candidates)
            mask &= found
            if not mask:
                return ()
        return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)

    def _mask(self, key: str, candidates: tuple[str, ...]) -> int:
        mask = 0
        for i, terms in enumerate(self._terms):
            term = terms.get(key)
            if term is None or any(
                pattern_matches(p, v) for v in candidates for p in term.patterns
            ):
                mask |= 1 << i
        return mask


def allocate_day(
    spec: AllocationSpec,
    day: date,
    groups: Sequence[tuple[Sequence[int], Decimal]],
) -> list[Part]:
    """Allocate one organization-day: ``groups`` are (its matching rules, from
    ``matching_rules``; its amount). Every group's parts add up to its amount exactly."""
    chosen = [first_rule(spec.rules, candidates, day) for candidates, _ in groups]
    # Spend matched directly (by a value rule) per value: what proportional splits follow.
    direct: dict[str, Decimal] = defaultdict(Decimal)
    for rule, (_, amount) in zip(chosen, groups, strict=True):
        if rule is not None and rule.value is not None:
            direct[rule.value] += amount
    parts: list[Part] = []
    for index, (rule, (_, amount)) in enumerate(zip(chosen, groups, strict=True)):
        if rule is None:
            parts.append(Part(index, spec.default, None, None, amount))
        elif rule.value is not None:
            parts.append(Part(index, rule.value, rule.position, None, amount))
        else:
            weights, shares = split_weights(rule, direct)
            amounts = split_amount(amount, weights)
            for (value, _), share, part in zip(rule.targets, shares, amounts, strict=True):
                parts.append(Part(index, value, rule.position, share, part))
    return parts


def split_weights(rule: Rule, direct: dict[str, Decimal]) -> tuple[list[int], list[Decimal]]:
    """A split's integer weights on a day (``direct``: each value's spend matched directly
    by value rules that day) and each target's share in percent."""
    weights = _weights(rule, direct)
    total = sum(weights)
    return weights, [share_percent(weight, total) for weight in weights]


def _weights(rule: Rule, direct: dict[str, Decimal]) -> list[int]:
    """A split's integer weights: fixed as written; proportional by the day's direct spend
    (in micro-cents), evenly when that is zero or negative somewhere; even all 1."""
    if rule.method == "proportional":
        spend = [
            int(direct.get(value, Decimal(0)).scaleb(CENTS_SCALE)) for value, _ in rule.targets
        ]
        if all(s >= 0 for s in spend) and sum(spend) > 0:
            return spend
        return [1] * len(rule.targets)
    return integer_weights([weight for _, weight in rule.targets])
