"""Replacing the stored rows of whole days: the one write path of the sync."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from operator import attrgetter, itemgetter, methodcaller
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session

from app.anthropic.records import Record
from app.anthropic.schemas import MAX_CENTS, MAX_COUNT, CostRow, UsageRow, refused
from app.clock import utcnow
from app.datasets import Dataset, spec_of
from app.db import affected_rows
from app.models import Restatement
from app.running_totals import refresh_key_totals
from app.store.bulk import insert_rows
from app.store.changes import record_change
from app.store.dimensions import remember_dimensions
from app.store.rollups import replace_rollups


def replace_days(
    session: Session,
    org_pk: int,
    dataset: str,
    start: date,
    end: date,
    rows: list[CostRow] | list[UsageRow] | list[Record] | list[Any],
) -> int:
    """Make the stored rows of days ``[start, end)`` exactly ``rows`` (merged by natural key),
    in the caller's transaction. The one write path of the sync; the benchmarks use it too."""
    return replace_days_counted(session, org_pk, dataset, start, end, rows)[0]


def replace_days_counted(
    session: Session,
    org_pk: int,
    dataset: str,
    start: date,
    end: date,
    rows: list[CostRow] | list[UsageRow] | list[Record] | list[Any],
) -> tuple[int, int]:
    """``replace_days``, also saying how many stored rows it deleted: (inserted, deleted)."""
    spec = spec_of(dataset)
    model = spec.table
    # Billed days already stored: their totals before, to log what this write changes.
    before = _day_totals(session, model, org_pk, start, end) if _billed(model) else {}
    deleted = affected_rows(
        session.execute(
            delete(model).where(
                model.organization_pk == org_pk,
                model.date >= start,
                model.date < end,
            )
        )
    )
    merged = _aggregate(rows)
    check_bounds(merged)
    if merged:
        insert_rows(session, model.__table__, org_pk, merged)
        if spec.filters:
            remember_dimensions(session, org_pk, spec.filters, merged)
    if spec.rollup is not None:
        replace_rollups(session, org_pk, spec.rollup, start, end, merged)
    if spec.name == Dataset.USAGE:  # after the rollup it is built from
        refresh_key_totals(session.connection(), org_pk, start)
    if before:
        _log_restatements(session, model, org_pk, dataset, start, end, before)
    # Last: the version's row lock is then held only while the caller commits.
    record_change(session, org_pk, dataset, start, end)
    return len(merged), int(deleted or 0)


def _billed(model: Any) -> bool:
    """Whether the dataset's rows are billed amounts (a changed day is a restatement)."""
    return "amount_cents" in model.__table__.c


def _day_totals(
    session: Session, model: Any, org_pk: int, start: date, end: date
) -> dict[date, Decimal]:
    rows = session.execute(
        select(model.date, func.sum(model.amount_cents))
        .where(model.organization_pk == org_pk, model.date >= start, model.date < end)
        .group_by(model.date)
    )
    return {day: Decimal(cents or 0) for day, cents in rows}


def _log_restatements(
    session: Session,
    model: Any,
    org_pk: int,
    dataset: str,
    start: date,
    end: date,
    before: dict[date, Decimal],
) -> None:
    """Log each stored day whose total this write changed (``restatement``): a day read
    again by the trailing window that Anthropic revised. Days stored for the first time are
    not restatements; a day that vanished is one (its total is now zero)."""
    after = _day_totals(session, model, org_pk, start, end)
    at = utcnow()
    changed = [
        Restatement(
            organization_pk=org_pk,
            dataset=dataset,
            day=day,
            before_cents=total,
            after_cents=after.get(day, Decimal(0)),
            found_at=at,
        )
        for day, total in sorted(before.items())
        if after.get(day, Decimal(0)) != total
    ]
    session.add_all(changed)
    if changed:
        session.flush()


def check_bounds(rows: list[Any]) -> None:
    """Refuse rows whose day totals are beyond any real bill or count (each value was bounded
    when parsed, but tens of thousands of them may add up past what a rollup or a SUM can
    hold). One sum per measure over the whole chunk with built-ins (it runs on every page of the
    write path: 168 -> 52 ms for a 42k-row usage page); only past the bound, per day, to
    name it."""
    if not rows:
        return
    for what, get, limit in _measures(rows[0]):
        # filter(None) drops None and zeros alike: neither adds anything.
        if sum(map(abs, filter(None, map(get, rows)))) <= limit:
            continue
        per_day: dict[date, Any] = defaultdict(int)
        for row in rows:
            value = get(row)
            if value is not None:
                per_day[row.day] += abs(value)
        day, total = max(per_day.items(), key=itemgetter(1))
        if total > limit:
            why = "beyond any real bill" if limit is MAX_CENTS else "beyond any real count"
            raise refused(f"{what} adding up to", total, day, why)


def _measures(row: Any) -> list[tuple[str, Callable[[Any], Any], Any]]:
    """(name, getter, bound) of each summed measure of rows like ``row``."""
    if isinstance(row, CostRow):
        return [
            ("cost amounts", attrgetter("amount_cents"), MAX_CENTS),
            ("list amounts", attrgetter("list_amount_cents"), MAX_CENTS),
        ]
    if isinstance(row, UsageRow):
        return [(n, _entry("tokens", n), MAX_COUNT) for n in row.tokens]
    return [
        (n, _entry("measures", n), MAX_CENTS if n.endswith("_cents") else MAX_COUNT)
        for n in row.additive
    ]


def _entry(mapping: str, name: str) -> Callable[[Any], Any]:
    """A getter of ``row.<mapping>.get(name)``, bound to this ``name`` now."""
    outer, inner = attrgetter(mapping), methodcaller("get", name)
    return lambda r: inner(outer(r))


def _aggregate(rows: list[Any]) -> list[Any]:
    """Merge rows with the same natural key (same day and every dimension) by summing them."""
    merged: dict[tuple[date, str], Any] = {}
    for row in rows:
        key = (row.day, row.dims_key)
        existing = merged.get(key)
        if existing is None:
            merged[key] = row
        else:
            existing.merge(row)
    return list(merged.values())
