"""The anomalies found in daily spend (issue 19; schema step 16)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models import Cents, UTCDateTime


class AnomalyStatus(StrEnum):
    """Where a person's triage of an anomaly stands (PRODUCT.md, "Anomalies")."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"


class Dimension(StrEnum):
    """The series an anomaly is found in."""

    ORGANIZATION = "organization"
    WORKSPACE = "workspace"
    MODEL = "model"
    API_KEY = "api_key"


class Anomaly(SQLModel, table=True):
    """One day of one series whose spend was above its expected range.

    A series is (organization, ``dimension``, ``value_key``): ``value_key`` is never null so
    that the unique constraint holds (the Default workspace is "", spend without a model is
    "cost_type:<its cost type>"); ``value_id`` is the id people see (null for the Default
    workspace and for spend without a model), ``value_name`` its label. A day found again
    (restated upstream) updates its row; ``status``, ``reason`` and ``notified_at`` are never
    touched by a scan. ``episode_start`` is the first day of the run of consecutive anomalous
    days this one belongs to."""

    __tablename__ = "anomaly"
    __table_args__ = (
        UniqueConstraint("organization_pk", "dimension", "value_key", "date"),
        Index("ix_anomaly_date", "date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: dt.date
    dimension: str = Field(max_length=20)
    value_key: str = Field(max_length=400)
    value_id: str | None = Field(default=None, max_length=400)
    value_name: str = Field(sa_type=Text)
    actual_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    expected_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    low_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    high_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    impact_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    status: str = Field(default=AnomalyStatus.OPEN, max_length=20)
    reason: str | None = Field(default=None, sa_type=Text)
    # A dismissal may suppress the series: no new anomaly of it on days before this one.
    suppressed_until: dt.date | None = None
    episode_start: dt.date
    # [{"dimension", "id", "name", "actual_usd", "expected_usd", "change_usd"}]: what drove it.
    drivers: str | None = Field(default=None, sa_type=Text)
    first_found_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)
    # When its episode's anomaly.detected went out (set on the one anomaly that carried it).
    notified_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    triaged_by: str | None = Field(default=None, max_length=320)
    triaged_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class AnomalyScan(SQLModel, table=True):
    """What the last completed scan of an organization saw (schema step 19): the day it
    checked through (exclusive: the day it ran) and the versions of the data it read
    (``app.store.changes``). A later scan reads the organization's series again only when one
    of these moved (``app.finops.anomalies.detect_anomalies``).

    No foreign key: the organization's rows are its data and bookkeeping (``app.datasets``);
    this is the scan's own memory. Its ``organization_created_at`` tells a deleted
    organization's row from a later one's that was given the same pk (whose versions could
    happen to match), and a scan drops the rows of organizations no longer there."""

    __tablename__ = "anomaly_scan"
    organization_pk: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    organization_created_at: dt.datetime = Field(sa_type=UTCDateTime)
    checked_through: dt.date
    # {"cost": 12, "key_cost": 3}: each dataset the scan reads, at the version it read.
    versions: str = Field(sa_type=Text)
    scanned_at: dt.datetime = Field(sa_type=UTCDateTime)
