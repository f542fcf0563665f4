"""What a set of rules would allocate, before it is saved (the Allocations page's editor):
each rule's share of the last days' spend and what stays with the default value, computed by
the same code that allocates (``allocation.computed_lines``), without writing anything."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import col

from app.clock import utcnow
from app.db import read_session
from app.finops.allocation import computed_lines
from app.finops.allocation_compute import AllocationSpec
from app.models import Organization

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The value and rule position columns of a computed line, and its amount (the last).
_VALUE, _RULE = 3, 4


@dataclass(frozen=True)
class Preview:
    """The rules over ``[start, end)``: cents per rule (by position; a rule that matches
    nothing is absent), the default value's cents, per value, and the billed total."""

    start: date
    end: date
    total: Decimal
    default: Decimal
    by_rule: dict[int, Decimal] = field(default_factory=dict)
    by_value: dict[str, Decimal] = field(default_factory=dict)
    # Per rule, the values it sent spend to (a split's several).
    rule_values: dict[int, dict[str, Decimal]] = field(default_factory=dict)


def preview(engine: Engine, spec: AllocationSpec, *, days: int = 30) -> Preview:
    """``spec`` applied to every organization's last ``days`` days (today included)."""
    today = utcnow().date()
    start = today - timedelta(days=days - 1)
    by_rule: dict[int, Decimal] = defaultdict(Decimal)
    by_value: dict[str, Decimal] = defaultdict(Decimal)
    rule_values: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    default = total = Decimal(0)
    with read_session(engine) as session:
        orgs = list(session.execute(select(Organization).order_by(col(Organization.id))).scalars())
        for org in orgs:
            for line in computed_lines(session, 0, spec, org, [(start, None)]):
                amount: Decimal = line[-1]
                value, position = line[_VALUE], line[_RULE]
                total += amount
                by_value[value] += amount
                if position is None:
                    default += amount
                else:
                    by_rule[position] += amount
                    rule_values[position][value] += amount
    return Preview(
        start,
        today + timedelta(days=1),
        total,
        default,
        dict(by_rule),
        dict(by_value),
        {position: dict(values) for position, values in rule_values.items()},
    )
