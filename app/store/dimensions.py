"""The values each dashboard filter offers, remembered as pages are written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app.datasets import REGISTRY
from app.models import DimensionValue

# The columns each filter offers values of, per dataset that has filters: kind -> column (the
# registry's ``filters``, by dataset name).
FILTER_DIMENSIONS: dict[str, Mapping[str, str]] = {
    str(name): spec.filters for name, spec in REGISTRY.items() if spec.filters
}


def _value(row: Any, column: str) -> Any:
    """A row's value of a filter column; "a|b": its first of ``a`` and ``b`` that is set,
    among its dimensions and measures (an actor: its name, else its id)."""
    if "|" not in column:  # the usual case: a dimension of the row
        return row.dims.get(column)
    for name in column.split("|"):
        value = row.dims.get(name, row.measures.get(name))
        if value is not None:
            return value
    return None


def remember_dimensions(
    session: Session, org_pk: int, filters: Mapping[str, str], rows: list[Any]
) -> None:
    """Add the page's values of each filter (kind -> detail column) to ``dimension_value``
    (existing ones are left alone)."""
    seen: set[tuple[str, str]] = set()
    for kind, column in filters.items():
        # A page has tens of thousands of rows but a few hundred distinct values.
        seen.update((kind, value or "") for value in {_value(row, column) for row in rows})
    dialect = session.get_bind().dialect.name
    upsert: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        upsert(DimensionValue).on_conflict_do_nothing(),
        [{"organization_pk": org_pk, "kind": k, "value": v[:400]} for k, v in sorted(seen)],
    )
