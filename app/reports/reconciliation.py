"""Per-key billed cost against the bill (issue 16 point 3; PRODUCT.md: "where the two disagree
for a day and workspace, the dashboard shows the difference rather than hiding it").

Per day and workspace of each Console organization that has per-key cost: the cost report's
billed amount (the billing truth), the Usage and Cost Analytics API's per-key ``amount`` summed
over the keys, its ``list_amount`` (pre-discount), and the difference per-key minus billed, with
its likely cause. Exact decimal cents throughout; the CSV goes through the one CSV writer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import col

from app.csv_writer import csv_bytes
from app.db import read_session
from app.models import CostLine, KeyCost, Organization, Provider, Workspace
from app.reports.labels import DEFAULT_WORKSPACE

if TYPE_CHECKING:
    from sqlalchemy import Engine

# Differences this small are the two reports' rounding (each row at 0.000001 cent; a day
# and workspace has a few thousand rows at most): not worth a cause.
ROUNDING_CENTS = Decimal("0.01")

CSV_COLUMNS = (
    "date",
    "organization_id",
    "organization_name",
    "workspace_id",
    "workspace_name",
    "billed_usd",
    "per_key_usd",
    "per_key_list_usd",
    "difference_usd",
    "cause",
)


@dataclass(frozen=True)
class ReconciledDay:
    """One day and workspace: billed (cost report) against per-key cost, in exact cents."""

    date: date
    organization_id: str
    organization_name: str
    workspace_id: str | None
    workspace_name: str
    billed_cents: Decimal
    per_key_cents: Decimal
    per_key_list_cents: Decimal | None

    @property
    def difference_cents(self) -> Decimal:
        return self.per_key_cents - self.billed_cents

    @property
    def cause(self) -> str:
        """The likely cause of the difference, in a few words ("" when they agree)."""
        if abs(self.difference_cents) < ROUNDING_CENTS:
            return "" if not self.difference_cents else "rounding"
        if not self.per_key_cents:
            return "no per-key cost for this day and workspace"
        if not self.billed_cents:
            return "not in the cost report"
        listed = self.per_key_list_cents
        if listed is not None and abs(listed - self.billed_cents) < ROUNDING_CENTS:
            return "discount in per-key cost (its list amount matches the bill)"
        return "the two reports differ (a restatement one has and the other not yet?)"


@dataclass(frozen=True)
class Reconciliation:
    days: list[ReconciledDay]
    without_per_key: list[str]  # Console organizations with no per-key cost (as shown)

    @property
    def billed_cents(self) -> Decimal:
        return sum((d.billed_cents for d in self.days), Decimal(0))

    @property
    def per_key_cents(self) -> Decimal:
        return sum((d.per_key_cents for d in self.days), Decimal(0))

    @property
    def differing(self) -> list[ReconciledDay]:
        return [d for d in self.days if abs(d.difference_cents) >= ROUNDING_CENTS]


def reconcile(
    engine: Engine, start: date, end: date, *, organization_id: str | None = None
) -> Reconciliation:
    """Billed against per-key cost per day and workspace in ``[start, end)`` (end exclusive),
    of the Console organizations with per-key cost; the others are named."""
    with read_session(engine) as session:
        orgs = [
            o
            for o in session.execute(select(Organization).order_by(col(Organization.id))).scalars()
            if o.provider != Provider.ENTERPRISE
            and (organization_id is None or o.organization_id == organization_id)
        ]
        with_cost = {
            pk
            for (pk,) in session.execute(
                select(col(KeyCost.organization_pk))
                .where(
                    col(KeyCost.organization_pk).in_([o.id for o in orgs]),
                    col(KeyCost.date) >= start,
                    col(KeyCost.date) < end,
                )
                .distinct()
            )
        }
        pks = sorted(with_cost)
        billed = _sums(session, CostLine, pks, start, end, list_amounts=False)
        per_key = _sums(session, KeyCost, pks, start, end, list_amounts=True)
        names = {
            (w.organization_pk, w.workspace_id): w.name
            for w in session.execute(
                select(Workspace).where(col(Workspace.organization_pk).in_(pks))
            ).scalars()
        }
    by_pk = {o.id: o for o in orgs}
    days = []
    for key in sorted(set(billed) | set(per_key), key=_order):
        pk, day, workspace_id = key
        org = by_pk[pk]
        amount, listed = per_key.get(key, (Decimal(0), None))
        days.append(
            ReconciledDay(
                date=day,
                organization_id=org.organization_id,
                organization_name=org.label or org.name,
                workspace_id=workspace_id,
                workspace_name=DEFAULT_WORKSPACE
                if workspace_id is None
                else names.get((pk, workspace_id), workspace_id),
                billed_cents=billed.get(key, (Decimal(0), None))[0],
                per_key_cents=amount,
                per_key_list_cents=listed,
            )
        )
    without = [o.label or o.name for o in orgs if o.id not in with_cost]
    return Reconciliation(days, without)


_Key = tuple[int, date, str | None]


def _order(key: _Key) -> tuple[Any, ...]:
    return (key[1], key[0], key[2] is not None, key[2] or "")


def _sums(
    session: Any, table: Any, pks: list[int], start: date, end: date, *, list_amounts: bool
) -> dict[_Key, tuple[Decimal, Decimal | None]]:
    if not pks:
        return {}
    keys = (col(table.organization_pk), col(table.date), col(table.workspace_id))
    amounts = [func.sum(col(table.amount_cents))]
    if list_amounts:
        amounts.append(func.sum(col(table.list_amount_cents)))
    rows = session.execute(
        select(*keys, *amounts)
        .where(col(table.organization_pk).in_(pks), col(table.date) >= start, col(table.date) < end)
        .group_by(*keys)
    )
    out: dict[_Key, tuple[Decimal, Decimal | None]] = {}
    for pk, day, workspace_id, amount, *listed in rows:
        total = None if not listed or listed[0] is None else Decimal(listed[0])
        out[(pk, day, workspace_id)] = (Decimal(amount or 0), total)
    return out


def csv_rows(result: Reconciliation) -> Iterable[list[Any]]:
    for d in result.days:
        yield [
            d.date,
            d.organization_id,
            d.organization_name,
            d.workspace_id,
            d.workspace_name,
            d.billed_cents.scaleb(-2),
            d.per_key_cents.scaleb(-2),
            None if d.per_key_list_cents is None else d.per_key_list_cents.scaleb(-2),
            d.difference_cents.scaleb(-2),
            d.cause,
        ]


def reconciliation_csv(result: Reconciliation) -> bytes:
    """The reconciliation as CSV bytes (``CSV_COLUMNS``), through the one CSV writer."""
    return csv_bytes(list(CSV_COLUMNS), csv_rows(result))
