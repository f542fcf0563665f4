"""Per-key billed cost as shares of the cost report's rows: what allocation rules on
``api_key`` or ``actor`` divide (issue 17 point 1).

The cost report is the bill and has no key; the Usage and Cost Analytics API bills the same
spend by key and actor (``key_cost_line``) at the grain of a day, workspace, model, tier, cost
type and token type. A cost row of that grain is divided among the keys (and actors) of its
per-key rows in proportion to their billed amounts, by largest remainder at the stored
precision (``allocation_compute.split_units``), so its parts add up to the row exactly,
whatever the two reports' totals (a discount, their rounding, a restatement one has and the
other not yet). A row no per-key row covers stays whole, and rules on keys do not match it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from app.db import read_session
from app.models import CENTS_SCALE, ApiKey, KeyCost, Organization

if TYPE_CHECKING:
    from sqlalchemy import Engine

# A cost row's per-key grain: day, workspace, model, service tier, cost type, token type.
Grain = tuple[date, str | None, str | None, str | None, str | None, str | None]
KEY_COST_DATASET = "key_cost"


@dataclass(frozen=True)
class KeyShare:
    """One key's (and actor's) part of a grain: ``units`` is its billed amount in the stored
    unit (a millionth of a cent), the weight of its share."""

    api_key_id: str | None
    api_key_name: str | None
    actor_id: str | None
    actor_name: str | None
    units: int


def actor_name(actor_type: str | None, name: str | None, key_name: str | None) -> str | None:
    """An actor's name as the match keys see it: a key without a principal is its own actor,
    named as the key when the API sends no name of its own."""
    return key_name if name is None and actor_type == "api_key" else name


def key_shares(session: Session, org_pk: int, day_clause: Any) -> dict[Grain, list[KeyShare]]:
    """The organization's per-key shares of each grain on the days ``day_clause`` (a condition
    on ``KeyCost.date``, None: every day) selects. A grain whose per-key amounts are all zero,
    or any negative (a credit would make a share below zero), is left out: it stays whole."""
    dims = (
        col(KeyCost.date),
        col(KeyCost.workspace_id),
        col(KeyCost.model),
        col(KeyCost.service_tier),
        col(KeyCost.cost_type),
        col(KeyCost.token_type),
    )
    who = (
        col(KeyCost.api_key_id),
        col(KeyCost.actor_type),
        col(KeyCost.actor_id),
        col(KeyCost.actor_name),
    )
    where = [col(KeyCost.organization_pk) == org_pk]
    if day_clause is not None:
        where.append(day_clause)
    query = (
        select(*dims, *who, func.sum(col(KeyCost.amount_cents)))
        .where(*where)
        .group_by(*dims, *who)
        # The same order on every database: a remainder's tie goes to the same key.
        .order_by(*dims, *(c.nulls_first() for c in who))
    )
    names = dict(
        session.execute(
            select(col(ApiKey.api_key_id), col(ApiKey.name)).where(
                col(ApiKey.organization_pk) == org_pk
            )
        ).all()
    )
    grains: dict[Grain, list[KeyShare]] = defaultdict(list)
    for row in session.execute(query):
        grain: Grain = tuple(row[:6])
        api_key_id, actor_type, actor_id, sent_name, amount = row[6:]
        key_name = names.get(api_key_id) if api_key_id is not None else None
        shown = actor_name(actor_type, sent_name, key_name)
        units = int(Decimal(amount or 0).scaleb(CENTS_SCALE).to_integral_value())
        grains[grain].append(KeyShare(api_key_id, key_name, actor_id, shown, units))
    return {
        grain: shares
        for grain, shares in grains.items()
        if all(s.units >= 0 for s in shares) and sum(s.units for s in shares) > 0
    }


@dataclass(frozen=True)
class PerKeyCoverage:
    """The organizations (as shown) with per-key billed cost stored, and those without."""

    with_cost: tuple[str, ...]
    without: tuple[str, ...]

    def note(self, name: Callable[[str], str] = str) -> str:
        """What rules on keys or actors do here; ``name`` renders an organization's name
        (the API's text: Markdown-escaped where the note is Markdown)."""
        if not self.with_cost:
            return (
                "Rules on API keys or actors divide spend by per-key billed cost (Anthropic's "
                "Usage and Cost Analytics API), which no organization has synced: they match "
                "nothing for now, and that spend goes on to the rules below them or to the "
                "default value."
            )
        common = (
            "Rules on API keys or actors divide each cost row by its keys' per-key billed cost "
            "(Anthropic's Usage and Cost Analytics API); the parts add up to the bill exactly."
        )
        if not self.without:
            return common
        return (
            f"{common} Without per-key cost: {', '.join(map(name, self.without))}. Those rules "
            "match none of their spend, which goes on to the rules below them or to the default "
            "value."
        )


def per_key_coverage(engine: Engine) -> PerKeyCoverage:
    """Which organizations have per-key cost: one indexed probe per organization."""
    with_cost: list[str] = []
    without: list[str] = []
    with read_session(engine) as session:
        orgs = session.execute(select(Organization).order_by(col(Organization.id))).scalars()
        for org in orgs:
            probe = select(col(KeyCost.id)).where(col(KeyCost.organization_pk) == org.id)
            shown = org.label or org.name
            found = session.execute(probe.limit(1)).first() is not None
            (with_cost if found else without).append(shown)
    return PerKeyCoverage(tuple(with_cost), tuple(without))
