"""The daily rollups (one dimension at a time, and the compound dimensions that cross a few),
rebuilt from the detail rows just written."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session

from app.anthropic.schemas import CostRow
from app.datasets import Rollup, encode_value
from app.models import stored_cents
from app.store.bulk import insert_tuples


def replace_rollups(
    session: Session, org_pk: int, rollup: Rollup, start: date, end: date, rows: list[Any]
) -> None:
    """Make the rollup rows of days ``[start, end)`` the sums of ``rows``, the detail rows just
    written (merged), by every rollup dimension, in the same transaction. Summed here in one
    pass over rows already in memory (amounts rounded as the database stores them), rather
    than read back once per dimension: that cost more than writing the rows. A compound
    dimension sums by its columns' values together, and encodes each distinct tuple once."""
    table, dims, measures = rollup.table, rollup.dims, rollup.measures
    session.execute(
        delete(table).where(table.organization_pk == org_pk, table.date >= start, table.date < end)
    )
    kept = [r for r in rows if start <= r.day < end]
    if kept and isinstance(kept[0], CostRow):
        measure_columns = [[stored_cents(r.amount_cents) for r in kept]]
    else:
        measure_columns = [[r.tokens.get(m, 0) for r in kept] for m in measures]
    days = [r.day for r in kept]
    out: list[tuple[Any, ...]] = []
    # Column by column, in tight loops: a page holds tens of thousands of rows.
    for dim, column in dims.items():
        keys = list(zip(days, [r.dims.get(column) for r in kept], strict=True))
        totals = _sums(keys, measure_columns)
        out += [
            (org_pk, day, dim, value, *(t.get((day, value), 0) for t in totals))
            for day, value in totals[0]
        ]
    for dim, crossed in rollup.compound.items():
        values = zip(*([r.dims.get(c) for r in kept] for c in crossed), strict=True)
        keys = list(zip(days, values, strict=True))
        totals = _sums(keys, measure_columns)
        encoded = {v: encode_value(v) for v in {v for _, v in totals[0]}}
        out += [
            (org_pk, day, dim, encoded[value], *(t.get((day, value), 0) for t in totals))
            for day, value in totals[0]
        ]
    if out:
        c = table.__table__.c
        columns = [c.organization_pk, c.date, c.dim, c.value, *(c[m] for m in measures)]
        insert_tuples(session, table.__table__, columns, out)


def _sums(keys: list[tuple[date, Any]], measure_columns: list[list[Any]]) -> list[dict[Any, Any]]:
    """Each measure summed by key (a day and a value); the first holds every key."""
    totals: list[dict[tuple[date, Any], Any]] = []
    for amounts in measure_columns:
        acc: dict[tuple[date, Any], Any] = defaultdict(int)
        if any(amounts) or not totals:  # many token types are zero on every row
            for key, amount in zip(keys, amounts, strict=True):
                acc[key] += amount
        totals.append(acc)
    return totals
