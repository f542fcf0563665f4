"""Monthly chargeback statements (issue 17 point 6): per allocation value, the month's spend by
organization, workspace, model and (rules on keys) API key with the split shares, as CSV and as
a printable PDF.

``close_month`` locks a month's statement of every allocation: its lines are stored
(``statement_line``) and read from there ever after, so a restatement by Anthropic never
changes a sent statement. The difference instead shows as ``adjustment`` lines (labelled with
the month they correct) on the next statement: an open month's statement corrects every closed
month just before it (back to the first open one) by what the allocation holds now minus what
the closed statements already charged for that month; closing it locks those adjustments too.
An open month is computed live from ``allocation_line`` and is "provisional".

Amounts stay exact decimal cents (the stored micro-cents) through every line; the CSV writes
them as exact dollars, the PDF rounds each figure to the cent, and both take their totals from
the same rows.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from app.clock import today, utcnow
from app.csv_writer import csv_bytes
from app.db import read_session, write_session
from app.finops.allocation import AllocationNotFound
from app.finops.allocation_tables import Allocation, AllocationLine
from app.finops.statement_tables import Statement, StatementLine
from app.models import Organization, Provider, Workspace
from app.reports.labels import DEFAULT_WORKSPACE, ENTERPRISE_NULLS
from app.services import audit

if TYPE_CHECKING:
    from sqlalchemy import Engine

CHARGE = "charge"
ADJUSTMENT = "adjustment"
_MONTH = re.compile(r"(\d{4})-(\d{2})")


class StatementError(ValueError):
    """A month that cannot be closed or exported; the message says why."""


@dataclass(frozen=True)
class StatementRow:
    value: str
    kind: str  # charge | adjustment
    for_month: date  # the month charged, or the closed month an adjustment corrects
    organization_id: str
    organization_name: str
    workspace_id: str | None
    workspace_name: str
    model: str | None
    api_key_id: str | None
    share_percent: Decimal | None  # the split share; None for a whole row
    amount_cents: Decimal


@dataclass(frozen=True)
class MonthStatement:
    """An allocation's statement of a month: every value's lines (closed or provisional)."""

    allocation: str
    month: date
    closed_at: datetime | None  # None: the month is open and the figures provisional
    rows: tuple[StatementRow, ...]
    closed_by: str | None = None

    @property
    def provisional(self) -> bool:
        return self.closed_at is None

    def values(self) -> list[str]:
        return sorted({row.value for row in self.rows})

    def total_cents(self, value: str | None = None) -> Decimal:
        return sum(
            (r.amount_cents for r in self.rows if value is None or r.value == value),
            Decimal(0),
        )


@dataclass(frozen=True)
class CloseResult:
    month: date
    closed: tuple[str, ...]  # allocations closed now
    already: tuple[str, ...]  # allocations whose month was closed before


def parse_month(text: str, *, closing: bool) -> date:
    """The first day of a ``YYYY-MM`` month. Refused: another format, a month not begun, and
    (``closing``) the current month, which is still being billed."""
    found = _MONTH.fullmatch(text.strip())
    month = int(found.group(2)) if found else 0
    if found is None or not 1 <= month <= 12:
        raise StatementError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2026-10.")
    first = date(int(found.group(1)), month, 1)
    current = today().replace(day=1)
    if first > current:
        raise StatementError(f"{first:%Y-%m} has not begun yet.")
    if closing and first == current:
        raise StatementError(
            f"{first:%Y-%m} is the current month: it can be closed once it has ended."
        )
    return first


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def dollars(cents: Decimal) -> Decimal:
    """Exact cents as dollars rounded to the cent (the PDF's figures)."""
    return cents.scaleb(-2).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


# --- computing ---------------------------------------------------------------------------


def _sort_key(row: StatementRow) -> tuple[Any, ...]:
    return (
        row.value,
        row.kind != CHARGE,
        row.for_month,
        row.organization_name,
        row.organization_id,
        row.workspace_name,
        row.model or "",
        row.api_key_id or "",
        row.share_percent if row.share_percent is not None else Decimal(-1),
    )


def _live_charges(session: Session, allocation: Allocation, month: date) -> list[StatementRow]:
    """The allocation's lines of the month, by value, organization, workspace, model, share."""
    query = (
        select(
            col(AllocationLine.value),
            col(AllocationLine.organization_pk),
            col(AllocationLine.workspace_id),
            col(AllocationLine.model),
            col(AllocationLine.api_key_id),
            col(AllocationLine.share_percent),
            func.sum(col(AllocationLine.amount_cents)),
        )
        .where(
            col(AllocationLine.allocation_pk) == allocation.id,
            col(AllocationLine.date) >= month,
            col(AllocationLine.date) < next_month(month),
        )
        .group_by(
            col(AllocationLine.value),
            col(AllocationLine.organization_pk),
            col(AllocationLine.workspace_id),
            col(AllocationLine.model),
            col(AllocationLine.api_key_id),
            col(AllocationLine.share_percent),
        )
    )
    orgs = {o.id: o for o in session.execute(select(Organization)).scalars()}
    workspaces = {
        (pk, ws): name
        for pk, ws, name in session.execute(
            select(col(Workspace.organization_pk), col(Workspace.workspace_id), col(Workspace.name))
        )
    }
    rows = []
    for value, org_pk, workspace_id, model, api_key_id, share, amount in session.execute(query):
        org = orgs[org_pk]
        if workspace_id is None:
            workspace = (
                ENTERPRISE_NULLS["workspace"]
                if org.provider == Provider.ENTERPRISE
                else DEFAULT_WORKSPACE
            )
        else:
            workspace = workspaces.get((org_pk, workspace_id), workspace_id)
        rows.append(
            StatementRow(
                value=value,
                kind=CHARGE,
                for_month=month,
                organization_id=org.organization_id,
                organization_name=org.label or org.name,
                workspace_id=workspace_id,
                workspace_name=workspace,
                model=model,
                api_key_id=api_key_id,
                share_percent=share,
                amount_cents=Decimal(amount or 0),
            )
        )
    return rows


_AdjustKey = tuple[str, str, str | None, str | None, str | None]


def _adjust_key(row: StatementRow) -> _AdjustKey:
    return (row.value, row.organization_id, row.workspace_id, row.model, row.api_key_id)


def _closed(session: Session, name: str) -> dict[date, Statement]:
    return {
        s.month: s
        for s in session.execute(
            select(Statement).where(col(Statement.allocation_name) == name)
        ).scalars()
    }


def _stored_rows(session: Session, statement: Statement) -> list[StatementRow]:
    lines = session.execute(
        select(StatementLine).where(col(StatementLine.statement_pk) == statement.id)
    ).scalars()
    return [
        StatementRow(
            value=line.value,
            kind=line.kind,
            for_month=line.for_month,
            organization_id=line.organization_id,
            organization_name=line.organization_name,
            workspace_id=line.workspace_id,
            workspace_name=line.workspace_name,
            model=line.model,
            api_key_id=line.api_key_id,
            share_percent=line.share_percent,
            amount_cents=line.amount_cents,
        )
        for line in lines
    ]


def _adjustments(
    session: Session, allocation: Allocation, month: date, closed: dict[date, Statement]
) -> list[StatementRow]:
    """Corrections of the closed months just before ``month`` (back to the first open one):
    what the allocation holds for each now minus what closed statements charged for it."""
    charged_by_statement = {m: _stored_rows(session, s) for m, s in closed.items()}
    rows: list[StatementRow] = []
    corrected = previous_month(month)
    while corrected in closed:
        charged: dict[_AdjustKey, Decimal] = defaultdict(Decimal)
        labels: dict[_AdjustKey, StatementRow] = {}
        for stored in charged_by_statement.values():
            for row in stored:
                if row.for_month == corrected:
                    charged[_adjust_key(row)] += row.amount_cents
                    labels.setdefault(_adjust_key(row), row)
        now: dict[_AdjustKey, Decimal] = defaultdict(Decimal)
        for row in _live_charges(session, allocation, corrected):
            now[_adjust_key(row)] += row.amount_cents
            labels[_adjust_key(row)] = row
        for key in sorted(set(now) | set(charged), key=lambda k: tuple(str(p) for p in k)):
            difference = now.get(key, Decimal(0)) - charged.get(key, Decimal(0))
            if difference:
                label = labels[key]
                rows.append(
                    StatementRow(
                        value=label.value,
                        kind=ADJUSTMENT,
                        for_month=corrected,
                        organization_id=label.organization_id,
                        organization_name=label.organization_name,
                        workspace_id=label.workspace_id,
                        workspace_name=label.workspace_name,
                        model=label.model,
                        api_key_id=label.api_key_id,
                        share_percent=None,
                        amount_cents=difference,
                    )
                )
        corrected = previous_month(corrected)
    return rows


def _live(
    session: Session, allocation: Allocation, month: date, closed: dict[date, Statement]
) -> list[StatementRow]:
    rows = _live_charges(session, allocation, month) + _adjustments(
        session, allocation, month, closed
    )
    return sorted(rows, key=_sort_key)


# --- closing and reading -----------------------------------------------------------------


def close_month(engine: Engine, month: date, *, actor: str) -> CloseResult:
    """Lock the month's statement of every allocation (``AllocationNotFound`` if there are
    none); one already closed stays as it was. Audited, one event per statement closed."""
    closed: list[str] = []
    already: list[str] = []
    with read_session(engine) as session:
        names = list(
            session.execute(select(col(Allocation.name)).order_by(col(Allocation.name))).scalars()
        )
    if not names:
        raise AllocationNotFound("")
    for name in names:
        with write_session(engine) as session:
            # The allocation's row locked: a reallocation or a second close waits for this one.
            allocation = session.execute(
                select(Allocation).where(col(Allocation.name) == name).with_for_update()
            ).scalar_one_or_none()
            if allocation is None:
                continue  # removed meanwhile
            statements = _closed(session, name)
            if month in statements:
                already.append(name)
                continue
            rows = _live(session, allocation, month, statements)
            statement = Statement(
                allocation_name=name, month=month, closed_at=utcnow(), closed_by=actor
            )
            session.add(statement)
            session.flush()
            assert statement.id is not None
            session.add_all(
                StatementLine(
                    statement_pk=statement.id,
                    value=r.value,
                    kind=r.kind,
                    for_month=r.for_month,
                    organization_id=r.organization_id,
                    organization_name=r.organization_name,
                    workspace_id=r.workspace_id,
                    workspace_name=r.workspace_name,
                    model=r.model,
                    api_key_id=r.api_key_id,
                    share_percent=r.share_percent,
                    amount_cents=r.amount_cents,
                )
                for r in rows
            )
            total = sum((r.amount_cents for r in rows), Decimal(0))
            audit.record(
                session,
                actor=actor,
                action="statement.closed",
                target=f"allocation {name}",
                detail=f"{month:%Y-%m} closed: {len(rows)} lines, ${dollars(total):,} in total",
            )
            closed.append(name)
    return CloseResult(month, tuple(closed), tuple(already))


def month_statement(engine: Engine, name: str, month: date) -> MonthStatement:
    """The allocation's statement of the month: the locked snapshot of a closed month (also
    after the allocation was removed), else computed now (``AllocationNotFound``)."""
    with read_session(engine) as session:
        statements = _closed(session, name)
        stored = statements.get(month)
        if stored is not None:
            rows = sorted(_stored_rows(session, stored), key=_sort_key)
            return MonthStatement(name, month, stored.closed_at, tuple(rows), stored.closed_by)
        allocation = session.execute(
            select(Allocation).where(col(Allocation.name) == name)
        ).scalar_one_or_none()
        if allocation is None:
            raise AllocationNotFound(name)
        return MonthStatement(
            name, month, None, tuple(_live(session, allocation, month, statements))
        )


# --- rendering ---------------------------------------------------------------------------

CSV_COLUMNS = (
    "allocation",
    "month",
    "status",
    "value",
    "kind",
    "for_month",
    "organization_id",
    "organization_name",
    "workspace_id",
    "workspace",
    "model",
    "api_key",
    "split_share_percent",
    "amount_usd",
)


def csv_rows(statement: MonthStatement) -> Iterable[list[Any]]:
    """The statement's lines in ``CSV_COLUMNS`` (amounts as exact dollars, numbers by type)."""
    status = "provisional" if statement.provisional else "closed"
    for row in statement.rows:
        yield [
            statement.allocation,
            f"{statement.month:%Y-%m}",
            status,
            row.value,
            row.kind,
            f"{row.for_month:%Y-%m}",
            row.organization_id,
            row.organization_name,
            row.workspace_id,
            row.workspace_name,
            row.model,
            row.api_key_id,
            row.share_percent,
            row.amount_cents.scaleb(-2),
        ]


def statement_csv(statement: MonthStatement) -> bytes:
    """The statement as CSV bytes (``CSV_COLUMNS``), through the one CSV writer: what
    ``finops statements export`` writes and the Statements page offers."""
    return csv_bytes(list(CSV_COLUMNS), csv_rows(statement))


@dataclass(frozen=True)
class ValueTotal:
    """A value's line on a statement's summary, in exact cents."""

    value: str
    charges: Decimal
    adjustments: Decimal

    @property
    def total(self) -> Decimal:
        return self.charges + self.adjustments


def value_totals(statement: MonthStatement) -> list[ValueTotal]:
    """Each value's charges and adjustments, largest total first (the page's summary)."""
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in statement.rows:
        sums[row.value][row.kind != CHARGE] += row.amount_cents
    totals = [ValueTotal(value, c, a) for value, (c, a) in sums.items()]
    return sorted(totals, key=lambda t: (-t.total, t.value))


def statement_months(engine: Engine, name: str) -> list[date]:
    """The months a statement of the allocation can be read for, newest first: from the first
    allocated day's month (or the first closed one) to the current month."""
    with read_session(engine) as session:
        first_line = session.execute(
            select(func.min(col(AllocationLine.date)))
            .join(Allocation, col(Allocation.id) == col(AllocationLine.allocation_pk))
            .where(col(Allocation.name) == name)
        ).scalar_one()
        first_closed = session.execute(
            select(func.min(col(Statement.month))).where(col(Statement.allocation_name) == name)
        ).scalar_one()
    current = today().replace(day=1)
    starts = [d.replace(day=1) for d in (first_line, first_closed) if d is not None]
    month = min(starts, default=current)
    months = []
    while month <= current:
        months.append(month)
        month = next_month(month)
    return months[::-1]
