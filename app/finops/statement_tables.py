"""Tables of monthly chargeback statements (issue 17 point 6): a closed month's statement of
each allocation, and its lines as they were when it was closed.

A statement is known by the allocation's name and month, not by the allocation's row: a sent
statement outlives the removal of its allocation. Its lines are the snapshot a later
restatement never changes; the difference shows as ``adjustment`` lines of a later month.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models import Cents, UTCDateTime


class Statement(SQLModel, table=True):
    """A closed month of an allocation: its lines are locked from ``closed_at``."""

    __tablename__ = "statement"
    __table_args__ = (UniqueConstraint("allocation_name", "month"),)
    id: int | None = Field(default=None, primary_key=True)
    allocation_name: str = Field(max_length=200)
    month: date  # the first day of the month
    closed_at: datetime = Field(sa_type=UTCDateTime)
    closed_by: str


class StatementLine(SQLModel, table=True):
    """A line of a closed statement: a value's spend by organization, workspace, model and
    split share (``charge``), or the correction of an earlier closed month (``adjustment``)."""

    __tablename__ = "statement_line"
    __table_args__ = (Index("ix_statement_line_statement", "statement_pk"),)
    id: int | None = Field(default=None, primary_key=True)
    statement_pk: int = Field(foreign_key="statement.id", ondelete="CASCADE")
    value: str = Field(max_length=200)
    kind: str = Field(max_length=20)  # charge | adjustment
    for_month: date  # the month a line charges or corrects (first day)
    organization_id: str
    organization_name: str
    workspace_id: str | None = None
    workspace_name: str
    model: str | None = None
    # Null until allocation lines carry the API key.
    api_key_id: str | None = None
    share_percent: Decimal | None = Field(default=None, sa_column=Column(Cents()))
    amount_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
