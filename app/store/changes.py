"""Which days of an organization's dataset changed, and in what order: a version per
(organization, dataset) and the days each version replaced. Written by ``replace_days`` in the
same transaction as the rows; read by the app's columnar copy (``app.columnar``) to stay
current without reading everything again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel, col

from app.models import DataChange, DataVersion

# The changes kept per organization's dataset: a copy further behind than this reads the
# organization's rows whole (a sync writes a few dozen versions an hour at most).
KEPT_CHANGES = 2000


@dataclass(frozen=True)
class Change:
    version: int
    first_day: date
    last_day: date  # exclusive


def record_change(session: Session, org_pk: int, dataset: str, start: date, end: date) -> int:
    """Bump the version of an organization's dataset and log the days ``[start, end)`` it
    replaced; returns the new version. The upsert holds the version's row lock until the
    caller commits, so two writers of one organization's dataset commit their versions in
    order (a reader never sees version N+1 without N)."""
    dialect = session.get_bind().dialect.name
    insert = postgres_insert if dialect == "postgresql" else sqlite_insert
    table = SQLModel.metadata.tables[DataVersion.__tablename__]
    upsert = (
        insert(table)
        .values(organization_pk=org_pk, dataset=dataset, version=1)
        .on_conflict_do_update(
            index_elements=["organization_pk", "dataset"],
            set_={"version": table.c.version + 1},
        )
        .returning(table.c.version)
    )
    version = int(session.execute(upsert).scalar_one())
    session.execute(
        SQLModel.metadata.tables[DataChange.__tablename__]
        .insert()
        .values(
            organization_pk=org_pk,
            dataset=dataset,
            version=version,
            first_day=start,
            last_day=end,
        )
    )
    if version > KEPT_CHANGES and version % 100 == 0:  # now and then, not on every page
        session.execute(
            delete(DataChange).where(
                col(DataChange.organization_pk) == org_pk,
                col(DataChange.dataset) == dataset,
                col(DataChange.version) <= version - KEPT_CHANGES,
            )
        )
    return version


def versions(conn: Connection | Session, datasets: tuple[str, ...]) -> dict[tuple[int, str], int]:
    """(organization pk, dataset) -> its version, for ``datasets``; absent: version 0."""
    rows = conn.execute(
        select(
            col(DataVersion.organization_pk), col(DataVersion.dataset), col(DataVersion.version)
        ).where(col(DataVersion.dataset).in_(datasets))
    )
    return {(pk, dataset): int(version) for pk, dataset, version in rows}


def changes_after(
    conn: Any, org_pk: int, dataset: str, version: int, upto: int
) -> list[Change] | None:
    """The changes of an organization's dataset after ``version`` (through ``upto`` at least,
    and any committed since), oldest first; None when the log no longer holds every one of
    them (the reader must read the organization whole)."""
    rows = conn.execute(
        select(col(DataChange.version), col(DataChange.first_day), col(DataChange.last_day))
        .where(
            col(DataChange.organization_pk) == org_pk,
            col(DataChange.dataset) == dataset,
            col(DataChange.version) > version,
        )
        .order_by(col(DataChange.version))
    ).all()
    found = [Change(int(v), first, last) for v, first, last in rows]
    expected = list(range(version + 1, version + 1 + len(found)))
    if len(found) < upto - version or [c.version for c in found] != expected:
        return None
    return found
