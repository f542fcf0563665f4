"""The daily rollups (one dimension at a time, and the compound dimensions that cross a few),
rebuilt from the detail rows just written."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from itertools import repeat
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
    dimension sums by its columns' values together (its value: ``encode_value``)."""
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
    # Column by column, in tight loops: a page holds tens of thousands of rows. Each column's
    # values are read once, for its own dimension and the compound ones that cross it.
    read: dict[str, list[Any]] = {}

    def values(column: str) -> list[Any]:
        if column not in read:
            read[column] = [r.dims.get(column) for r in kept]
        return read[column]

    for dim, column in dims.items():
        keys = list(zip(days, values(column), strict=True))
        out += _rolled(org_pk, dim, keys, measure_columns, compound=False)
    for dim, crossed in rollup.compound.items():
        # Flat keys (day, value, value, ...): a nested tuple would be hashed again each time.
        keys = list(zip(days, *map(values, crossed), strict=True))
        out += _rolled(org_pk, dim, keys, measure_columns, compound=True)
    if out:
        c = table.__table__.c
        columns = [c.organization_pk, c.date, c.dim, c.value, *(c[m] for m in measures)]
        insert_tuples(session, table.__table__, columns, out)


def _rolled(
    org_pk: int, dim: str, keys: list[tuple[Any, ...]], measures: list[list[Any]], *, compound: bool
) -> list[tuple[Any, ...]]:
    """The rollup rows of one dimension: each measure summed by key (a day and its value, or a
    compound dimension's values, encoded: ``encode_value`` keeps the ones that recur)."""
    totals: list[dict[tuple[Any, ...], Any]] = []
    for amounts in measures:
        acc: dict[tuple[Any, ...], Any] = defaultdict(int)
        if any(amounts) or not totals:  # many token types are zero on every row
            for key, amount in zip(keys, amounts, strict=True):
                acc[key] += amount
        totals.append(acc)
    summed = list(totals[0])
    n = len(summed)
    # Every sum was built over the same keys in the same order: its values line up.
    columns = [list(t.values()) if t else [0] * n for t in totals]
    values = [encode_value(k[1:]) for k in summed] if compound else [k[1] for k in summed]
    return list(zip(repeat(org_pk), [k[0] for k in summed], repeat(dim), values, *columns))
