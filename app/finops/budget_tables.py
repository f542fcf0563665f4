"""Tables of budgets, alerts and the channels that deliver them (issue 18).

None has a foreign key to ``organization``: a budget's scope names organizations by id or
name (a match), so deleting an organization leaves the budgets, their alerts and deliveries.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models import Cents, UTCDateTime


class Channel(SQLModel, table=True):
    """Where notifications go: a signed webhook, a Slack incoming webhook or email.

    Secrets (a webhook's signing secret, a Slack URL, which is its own secret) are stored
    encrypted with the keystore; only their hints are ever shown."""

    __tablename__ = "notification_channel"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    type: str = Field(max_length=20)  # webhook | slack | email
    # A webhook's URL (shown); null for Slack (encrypted below) and email.
    url: str | None = Field(default=None, sa_type=Text)
    # Slack: the URL encrypted; webhook: the signing secret encrypted.
    secret_ciphertext: str | None = Field(default=None, sa_type=Text)
    secret_hint: str | None = Field(default=None, max_length=200)
    addresses: str | None = Field(default=None, sa_type=Text)  # email: comma-separated
    events: str = Field(sa_type=Text)  # comma-separated event types
    min_impact_cents: Decimal | None = Field(default=None, sa_column=Column(Cents()))
    created_at: datetime = Field(sa_type=UTCDateTime)


class Budget(SQLModel, table=True):
    """A budget of the imported set, known by name. ``definition`` is its normalised JSON
    (scope, period, amount, thresholds, channels): an unchanged re-import leaves it as is."""

    __tablename__ = "budget"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    definition: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class BudgetAlert(SQLModel, table=True):
    """A threshold that fired. The unique key is what makes it fire at most once per period,
    across evaluations, workers, restarts and re-imports (an insert that conflicts is not a
    firing)."""

    __tablename__ = "budget_alert"
    __table_args__ = (
        UniqueConstraint("budget_name", "threshold_percent", "threshold_on", "period_start"),
    )
    id: int | None = Field(default=None, primary_key=True)
    budget_name: str = Field(max_length=200)
    threshold_percent: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    threshold_on: str = Field(max_length=20)  # actual | forecast
    period_start: date
    period: str = Field(max_length=20)
    amount_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    actual_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    forecast_cents: Decimal | None = Field(default=None, sa_column=Column(Cents()))
    # Crossed because days already evaluated were restated upward (a replaced trailing window).
    restatement: bool = False
    event_id: str = Field(max_length=64)
    fired_at: datetime = Field(sa_type=UTCDateTime)


class BudgetState(SQLModel, table=True):
    """What the last evaluation of a budget saw of its period: the spend of the complete days
    before ``complete_through``, so the next one can tell a restatement of those days."""

    __tablename__ = "budget_state"
    __table_args__ = (UniqueConstraint("budget_name", "period_start"),)
    id: int | None = Field(default=None, primary_key=True)
    budget_name: str = Field(max_length=200)
    period_start: date
    complete_through: date
    complete_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    evaluated_at: datetime = Field(sa_type=UTCDateTime)


class Delivery(SQLModel, table=True):
    """One event to one channel: persisted before it is attempted, so a failed or interrupted
    delivery is retried by the next evaluation, under the same ``event_id`` (webhook-id)."""

    __tablename__ = "channel_delivery"
    __table_args__ = (UniqueConstraint("channel_name", "event_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel_name: str = Field(max_length=200)
    event_id: str = Field(max_length=64)
    event_type: str = Field(max_length=64)
    body: str = Field(sa_type=Text)  # the JSON body {type, timestamp, data}
    alert_id: int | None = None  # the budget_alert it delivers, if any
    status: str = Field(default="pending", max_length=20)  # pending | delivered | failed
    retryable: bool = True  # false after a 4xx or a channel that cannot send
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A worker attempting it holds it until then (two workers never send it at once).
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
