"""Tables of allocations (PRODUCT.md, "Allocation"): the allocations and their rules as
imported, every imported version (the history of rule changes), and the computed result.

``allocation_line`` is the spend of each organization-day allocated to a value, at the grain of
the match keys a cost row has (workspace, model, tier, cost type, token type, product): a
"Spend by Team" chart sums it by value, a statement by model or workspace; its amounts of a
day add up exactly to that day's billed total. ``allocation_mark`` is how far each allocation
has followed each organization's cost rows (and, with rules on keys, its per-key cost;
``app.store.changes``): after a sync only the days replaced since are allocated again.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, ColumnElement, Index, Text, UniqueConstraint, select
from sqlmodel import Field, SQLModel, col

from app.models import Cents, UTCDateTime

# The cost row columns an allocation line keeps (the match keys a cost row has), and a line's
# columns in the order the allocating code writes them.
GROUP_COLUMNS = ("workspace_id", "model", "service_tier", "cost_type", "token_type", "product")
LINE_COLUMNS = (
    "allocation_pk",
    "organization_pk",
    "date",
    "value",
    "rule_position",
    "share_percent",
    *GROUP_COLUMNS,
    "api_key_id",
    "amount_cents",
)


class Allocation(SQLModel, table=True):
    """One allocation (Team, Cost centre…): its default value and the file last imported."""

    __tablename__ = "allocation"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    default_value: str = Field(max_length=200)
    # The file as imported (YAML or JSON text): what the history and the audit show.
    source: str = Field(sa_type=Text)
    # Bumped by every import; ``allocation_mark`` rows of an older version are stale.
    version: int = Field(default=1, sa_type=BigInteger)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str


class AllocationRule(SQLModel, table=True):
    """A rule of an allocation's current version, in order (the first match wins)."""

    __tablename__ = "allocation_rule"
    __table_args__ = (UniqueConstraint("allocation_pk", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    allocation_pk: int = Field(foreign_key="allocation.id", ondelete="CASCADE")
    position: int  # 0-based order
    line: int  # the 1-based line of the rule in its file
    # The value it assigns; null for a split.
    value: str | None = Field(default=None, max_length=200)
    # even | proportional | fixed; null for a value rule.
    split_method: str | None = Field(default=None, max_length=20)
    # A split's targets: JSON {"value": weight} (weights of a fixed split, null otherwise).
    split_targets: str | None = Field(default=None, sa_type=Text)
    # The match mapping, as JSON.
    match: str = Field(sa_type=Text)
    effective_from: date | None = None  # inclusive
    effective_to: date | None = None  # exclusive


class AllocationVersion(SQLModel, table=True):
    """Every imported version of an allocation: who, when, the file, and the first day it
    changed (null: every day). Kept after a removal, so the history stays readable."""

    __tablename__ = "allocation_version"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    version: int = Field(sa_type=BigInteger)
    source: str | None = Field(default=None, sa_type=Text)  # null: the allocation was removed
    changed_from: date | None = None
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str


class AllocationLine(SQLModel, table=True):
    """Spend of an organization-day allocated to one value, by the cost row's match keys."""

    __tablename__ = "allocation_line"
    __table_args__ = (
        Index("ix_allocation_line_allocation_date", "allocation_pk", "date"),
        Index("ix_allocation_line_allocation_org_date", "allocation_pk", "organization_pk", "date"),
        Index("ix_allocation_line_org", "organization_pk"),
    )
    id: int | None = Field(default=None, primary_key=True)
    allocation_pk: int = Field(foreign_key="allocation.id", ondelete="CASCADE")
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    value: str = Field(max_length=200)
    # The rule that allocated it (its position), null for the default value.
    rule_position: int | None = None
    # The part of a split (in percent of the row's amount, or of its key's part of it), null
    # for a value rule.
    share_percent: Decimal | None = Field(default=None, sa_column=Column(Cents()))
    workspace_id: str | None = None
    model: str | None = None
    service_tier: str | None = None
    cost_type: str | None = None
    token_type: str | None = None
    product: str | None = None
    # The API key of a row divided by per-key billed cost (an allocation with rules on keys or
    # actors); null otherwise, and for the Console / Workbench part.
    api_key_id: str | None = None
    amount_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))


class AllocationDaily(SQLModel, table=True):
    """An allocation's lines summed per organization, day and value: what "Spend by Team" reads
    when no filter needs the lines' match keys (a few rows a day instead of one per cost row).
    Rewritten with the lines of the same days, in the same transaction."""

    __tablename__ = "allocation_daily"
    __table_args__ = (
        Index("ix_allocation_daily_allocation_date", "allocation_pk", "date"),
        Index("ix_allocation_daily_org", "organization_pk"),
    )
    id: int | None = Field(default=None, primary_key=True)
    allocation_pk: int = Field(foreign_key="allocation.id", ondelete="CASCADE")
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    value: str = Field(max_length=200)
    amount_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))


class AllocationMark(SQLModel, table=True):
    """The version of an organization's cost rows an allocation was last computed from, and
    the allocation's version then: what the next run allocates again."""

    __tablename__ = "allocation_mark"
    __table_args__ = (UniqueConstraint("allocation_pk", "organization_pk"),)
    id: int | None = Field(default=None, primary_key=True)
    allocation_pk: int = Field(foreign_key="allocation.id", ondelete="CASCADE")
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    allocation_version: int = Field(sa_type=BigInteger)
    cost_version: int = Field(sa_type=BigInteger)
    # The organization's per-key cost version then (followed only by an allocation with rules
    # on keys or actors: a row is divided by the per-key cost of its day).
    key_cost_version: int = Field(default=0, sa_type=BigInteger)


def of_allocation(name: str, table: Any = AllocationLine) -> ColumnElement[bool]:
    """The rows of ``table`` (``AllocationLine`` or ``AllocationDaily``) of the allocation
    named ``name``: what a Spend view or a budget scope by an allocation reads."""
    pk = select(col(Allocation.id)).where(col(Allocation.name) == name).scalar_subquery()
    return col(table.allocation_pk) == pk
