"""All tables. Money is exact (``Cents``), token counts are 64-bit, dimensions are open strings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum, nonmember
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Numeric, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel

# Six decimal places of a cent: every amount the reference shows ("123.456789") fits exactly.
CENTS_SCALE = 6
_QUANTUM = Decimal(1).scaleb(-CENTS_SCALE)


def stored_cents(value: Any) -> Decimal:
    """An amount of cents as the database keeps it (six decimals, half to even)."""
    return Decimal(value).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


# The databases that keep an amount as an integer count of micro-cents.
MICRO_CENTS_DIALECTS = frozenset({"sqlite", "duckdb"})


class Cents(TypeDecorator[Decimal]):
    """An exact amount of US cents.

    Postgres stores NUMERIC. SQLite has no exact decimal type (SQLAlchemy would round-trip it
    through float), so there it is an integer count of micro-cents; SUM() stays exact in both,
    and because ``func.sum`` keeps this type, sums come back as ``Decimal`` on both backends.
    The app's DuckDB copy (``app.columnar``) keeps micro-cents too: its SUM of BIGINT is a
    128-bit integer, exact, and copying a row needs no conversion from SQLite.
    """

    impl = Numeric(24, CENTS_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in MICRO_CENTS_DIALECTS:
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(24, CENTS_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = stored_cents(value)
        if dialect.name in MICRO_CENTS_DIALECTS:
            return int(exact.scaleb(CENTS_SCALE))
        return exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name in MICRO_CENTS_DIALECTS:
            return Decimal(int(value)).scaleb(-CENTS_SCALE)
        return Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class OrgStatus(StrEnum):
    """Organization status values shown to users (PRODUCT.md `finops orgs --json`). Stored as
    these strings: a member is a ``str`` and binds as its value on SQLite and Postgres."""

    BACKFILLING = "backfilling"
    HEALTHY = "healthy"
    KEY_REJECTED = "key_rejected"
    FAILING = "failing"


class Provider(StrEnum):
    """Connection types. Stored values are stable ids; people see
    ``app.reports.labels.provider_label``."""

    CONSOLE = "anthropic"
    ENTERPRISE = "anthropic_enterprise"


class SyncOutcome(StrEnum):
    """How a run of the sync ended (``sync_run.outcome``, ``SyncResult.outcome``)."""

    OK = "ok"
    FAILED = "failed"
    KEY_REJECTED = "key_rejected"
    SKIPPED = "skipped"
    STOPPED = "stopped"
    # A run in progress, and one whose process died before it could record its end.
    RUNNING = "running"
    INTERRUPTED = "interrupted"


class Role(StrEnum):
    """What a signed-in person may do: admins manage connections and users; viewers look."""

    ADMIN = "admin"
    VIEWER = "viewer"
    # Not a member: every role, in the order a form offers them.
    ALL = nonmember((ADMIN, VIEWER))


class UsageMeasures(SQLModel):
    """The six usage measures (tokens by type, web searches), declared once for every table
    that keeps them (``usage_bucket``, ``user_usage``, ``usage_daily``). A table model that
    inherits this gets these columns first, before its own (SQLModel lists inherited fields
    first; nothing reads the columns by position)."""

    uncached_input_tokens: int = Field(default=0, sa_type=BigInteger)
    cache_creation_5m_input_tokens: int = Field(default=0, sa_type=BigInteger)
    cache_creation_1h_input_tokens: int = Field(default=0, sa_type=BigInteger)
    cache_read_input_tokens: int = Field(default=0, sa_type=BigInteger)
    output_tokens: int = Field(default=0, sa_type=BigInteger)
    web_search_requests: int = Field(default=0, sa_type=BigInteger)


# Their names, in the order the API's usage report and the CSV export list them.
USAGE_MEASURES: tuple[str, ...] = tuple(UsageMeasures.model_fields)


class Organization(SQLModel, table=True):
    """A connected organization and its encrypted key: a Claude Console organization (Admin
    key) or a Claude Enterprise organization (Analytics API key)."""

    id: int | None = Field(default=None, primary_key=True)
    organization_id: str = Field(unique=True, index=True, max_length=200)
    name: str
    label: str | None = None
    provider: str = Field(default=Provider.CONSOLE, max_length=40)
    is_demo: bool = False
    key_ciphertext: str = Field(sa_type=Text)
    key_hint: str
    status: str = Field(default=OrgStatus.BACKFILLING, max_length=40)
    status_message: str | None = Field(default=None, sa_type=Text)
    backfill_start: date
    backfill_progress: float = 0.0
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    backfill_completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    consecutive_failures: int = 0
    lease_owner: str | None = None
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def display_name(self) -> str:
        return self.label or self.name


class Workspace(SQLModel, table=True):
    """A workspace of an organization (archived ones too, so old usage keeps its name)."""

    __table_args__ = (UniqueConstraint("organization_pk", "workspace_id"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    workspace_id: str
    name: str
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """Metadata of a regular API key of the organization (never its secret)."""

    __tablename__ = "api_key"
    __table_args__ = (UniqueConstraint("organization_pk", "api_key_id"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    api_key_id: str
    name: str
    workspace_id: str | None = None
    status: str | None = None


class CostLine(SQLModel, table=True):
    """One row of the daily cost report grouped by workspace and description."""

    __tablename__ = "cost_line"
    __table_args__ = (
        UniqueConstraint("organization_pk", "date", "dims_key"),
        Index("ix_cost_line_date", "date"),
        # A view filtered to a model reads that model's rows, not every row of the days.
        Index("ix_cost_line_org_model_date", "organization_pk", "model", "date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    workspace_id: str | None = None
    description: str | None = None
    cost_type: str | None = None
    model: str | None = None
    token_type: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    # Claude Enterprise only: chat, claude_code, cowork, ... (null for Console organizations).
    product: str | None = None
    amount_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    # Claude Enterprise only: the pre-discount amount.
    list_amount_cents: Decimal | None = Field(default=None, sa_column=Column(Cents()))
    currency: str = "USD"
    # Fields the API sent that this version does not know; kept, never dropped.
    extra: str | None = Field(default=None, sa_type=Text)
    # Digest of every dimension (known and extra): the natural key within a day.
    dims_key: str = Field(max_length=64)


class KeyCost(SQLModel, table=True):
    """Console organizations: one day's billed cost by API key, actor, workspace, model, service
    tier, cost type and token type, from the Usage and Cost Analytics API (beta). A row without
    a key is Console / Workbench usage or code execution; a key without a principal is its own
    actor (``actor_type`` "api_key", ``actor_id`` its ``apikey_`` id)."""

    __tablename__ = "key_cost_line"
    __table_args__ = (
        UniqueConstraint("organization_pk", "date", "dims_key"),
        Index("ix_key_cost_line_date", "date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    workspace_id: str | None = None
    api_key_id: str | None = None
    # user, service_account, api_key, or a type this version does not know (kept as sent).
    actor_type: str | None = None
    actor_id: str | None = None
    actor_name: str | None = None
    model: str | None = None
    service_tier: str | None = None
    cost_type: str | None = None
    token_type: str | None = None
    # Post-discount, pre-credit; ``list_amount_cents`` is the list price (pre-discount).
    amount_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    list_amount_cents: Decimal | None = Field(default=None, sa_column=Column(Cents()))
    # Null when grouped by cost or token type (as this dataset is): the API has no split.
    requests: int | None = Field(default=None, sa_type=BigInteger)
    currency: str = "USD"
    extra: str | None = Field(default=None, sa_type=Text)
    dims_key: str = Field(max_length=64)


class KeyUsage(UsageMeasures, table=True):
    """Console organizations: one day's tokens and requests by API key, actor, workspace, model,
    service tier, context window and inference geography, from the Usage and Cost Analytics
    API's ``/analytics/usage`` (beta). What it adds to the usage report: the actor (the person
    or service account behind a key's requests) and the request count."""

    __tablename__ = "key_usage_line"
    __table_args__ = (
        UniqueConstraint("organization_pk", "date", "dims_key"),
        Index("ix_key_usage_line_date", "date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    workspace_id: str | None = None
    api_key_id: str | None = None
    actor_type: str | None = None
    actor_id: str | None = None
    actor_name: str | None = None
    model: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    # Nullable in the API (reference §13.4); code execution counts execution spans.
    requests: int | None = Field(default=None, sa_type=BigInteger)
    extra: str | None = Field(default=None, sa_type=Text)
    dims_key: str = Field(max_length=64)


class KeyCostEstimate(SQLModel, table=True):
    """Console organizations whose key may not read per-key cost: the estimate in its place.
    Each day's billed cost of a workspace, model, tier and cost type is divided among the API
    keys (and the keyless Console use) in proportion to their tokens of that grain at list
    price (``list_amount_cents``); the parts add up to the bill exactly. Never billed cost, and
    labelled as an estimate wherever it is shown (``app.store.key_estimate``)."""

    __tablename__ = "key_cost_estimate"
    __table_args__ = (Index("ix_key_cost_estimate_org_date", "organization_pk", "date"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    workspace_id: str | None = None
    api_key_id: str | None = None
    # The key's name when estimated: an estimated key is its own actor, and Spend by actor
    # names it so (as billed rows keep the actor's name the API sent with them).
    actor_name: str | None = None
    model: str | None = None
    service_tier: str | None = None
    cost_type: str | None = None
    amount_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    # The key's tokens of the grain at list price; None where the split fell back to the
    # workspace's day (no tokens of that grain, or no public price).
    list_amount_cents: Decimal | None = Field(default=None, sa_column=Column(Cents()))


class KeyEstimateMark(SQLModel, table=True):
    """An organization whose per-key cost is estimated, and the versions of its cost and usage
    rows the estimate followed (a later version re-estimates the days it changed)."""

    __tablename__ = "key_estimate_mark"
    organization_pk: int = Field(
        foreign_key="organization.id", ondelete="CASCADE", primary_key=True
    )
    cost_version: int = Field(default=0, sa_type=BigInteger)
    usage_version: int = Field(default=0, sa_type=BigInteger)


class UsageBucket(UsageMeasures, table=True):
    """Daily token usage by API key, workspace, model, service tier and context window."""

    __tablename__ = "usage_bucket"
    __table_args__ = (
        UniqueConstraint("organization_pk", "date", "dims_key"),
        Index("ix_usage_bucket_date", "date"),
        Index("ix_usage_bucket_org_model_date", "organization_pk", "model", "date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    api_key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    product: str | None = None  # Claude Enterprise only
    extra: str | None = Field(default=None, sa_type=Text)
    dims_key: str = Field(max_length=64)


class ClaudeCodeDay(SQLModel, table=True):
    """One record of the Claude Code report: one actor's day on one terminal, remote or local.
    ``estimated_cost_cents`` is Anthropic's estimate, never billed spend."""

    __tablename__ = "claude_code_day"
    __table_args__ = (
        UniqueConstraint("organization_pk", "date", "dims_key"),
        Index("ix_claude_code_day_date", "date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    actor_type: str | None = None  # user_actor | api_actor | something newer
    actor: str | None = None  # the email address or the API key name
    customer_type: str | None = None
    subscription_type: str | None = None
    terminal_type: str | None = None
    is_remote: bool | None = None
    sessions: int = Field(default=0, sa_type=BigInteger)
    lines_added: int = Field(default=0, sa_type=BigInteger)
    lines_removed: int = Field(default=0, sa_type=BigInteger)
    commits: int = Field(default=0, sa_type=BigInteger)
    pull_requests: int = Field(default=0, sa_type=BigInteger)
    tool_accepted: int = Field(default=0, sa_type=BigInteger)
    tool_rejected: int = Field(default=0, sa_type=BigInteger)
    # {"edit_tool": {"accepted": 25, "rejected": 3}, ...}: the tool set is open.
    tool_actions: str | None = Field(default=None, sa_type=Text)
    # [{"model", "input", "output", "cache_read", "cache_creation", "estimated_cost_cents"}]
    models: str | None = Field(default=None, sa_type=Text)
    input_tokens: int = Field(default=0, sa_type=BigInteger)
    output_tokens: int = Field(default=0, sa_type=BigInteger)
    cache_read_tokens: int = Field(default=0, sa_type=BigInteger)
    cache_creation_tokens: int = Field(default=0, sa_type=BigInteger)
    estimated_cost_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    extra: str | None = Field(default=None, sa_type=Text)
    dims_key: str = Field(max_length=64)


class UserCost(SQLModel, table=True):
    """Claude Enterprise: one seat user's cost on one day (only seat-attributable cost)."""

    __tablename__ = "user_cost"
    __table_args__ = (UniqueConstraint("organization_pk", "date", "dims_key"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    user_id: str | None = None
    user_name: str | None = None
    user_email: str | None = None
    deleted: bool | None = None
    amount_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    list_amount_cents: Decimal | None = Field(default=None, sa_column=Column(Cents()))
    currency: str = "USD"
    # API requests (null when the report was grouped by cost or token type): a count, not part
    # of the row's key; and the "data as of" of the page it came in (issue 16).
    requests: int | None = Field(default=None, sa_type=BigInteger)
    data_refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    extra: str | None = Field(default=None, sa_type=Text)
    dims_key: str = Field(max_length=64)


class UserUsage(UsageMeasures, table=True):
    """Claude Enterprise: one seat user's token usage on one day."""

    __tablename__ = "user_usage"
    __table_args__ = (UniqueConstraint("organization_pk", "date", "dims_key"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    user_id: str | None = None
    user_name: str | None = None
    user_email: str | None = None
    deleted: bool | None = None
    total_tokens: int = Field(default=0, sa_type=BigInteger)
    requests: int = Field(default=0, sa_type=BigInteger)
    data_refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    extra: str | None = Field(default=None, sa_type=Text)
    dims_key: str = Field(max_length=64)


class EngagementDay(SQLModel, table=True):
    """Claude Enterprise: the organization's engagement summary of one day."""

    __tablename__ = "engagement_day"
    __table_args__ = (UniqueConstraint("organization_pk", "date", "dims_key"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    daily_active_users: int | None = Field(default=None, sa_type=BigInteger)
    weekly_active_users: int | None = Field(default=None, sa_type=BigInteger)
    monthly_active_users: int | None = Field(default=None, sa_type=BigInteger)
    daily_adoption_rate: float | None = None
    weekly_adoption_rate: float | None = None
    monthly_adoption_rate: float | None = None
    assigned_seats: int | None = Field(default=None, sa_type=BigInteger)
    pending_invites: int | None = Field(default=None, sa_type=BigInteger)
    cowork_daily_active_users: int | None = Field(default=None, sa_type=BigInteger)
    cowork_weekly_active_users: int | None = Field(default=None, sa_type=BigInteger)
    cowork_monthly_active_users: int | None = Field(default=None, sa_type=BigInteger)
    extra: str | None = Field(default=None, sa_type=Text)
    dims_key: str = Field(max_length=64)


class CostDaily(SQLModel, table=True):
    """Daily spend of an organization by one dimension at a time (``dim``: model, workspace,
    service_tier, token_type, cost_type, product or description; ``value`` null where the API
    sent null), and by the compound dimension ``economics`` (cost type x model x tier, its
    ``value`` encoded by ``app.datasets.encode_value``) that unit economics reads. Kept by the
    sync in the same transaction as the detail rows, so the unfiltered dashboards add up a few
    rows per day instead of thousands; a test proves the two agree."""

    __tablename__ = "cost_daily"
    __table_args__ = (
        Index("ix_cost_daily_dim_date", "dim", "date"),
        Index("ix_cost_daily_org_date", "organization_pk", "date"),
        Index("ix_cost_daily_dim_value_date", "dim", "value", "date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    dim: str = Field(max_length=20)
    value: str | None = None
    amount_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))


class UsageDaily(UsageMeasures, table=True):
    """Daily token usage of an organization by one dimension at a time (model, workspace,
    api_key, service_tier or product) and by ``economics`` (model x tier x context window x
    geography), kept like ``CostDaily``."""

    __tablename__ = "usage_daily"
    __table_args__ = (
        Index("ix_usage_daily_dim_date", "dim", "date"),
        Index("ix_usage_daily_org_date", "organization_pk", "date"),
        # The days of a few chosen values (the largest API keys of a chart).
        Index("ix_usage_daily_dim_value_date", "dim", "value", "date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    date: date
    dim: str = Field(max_length=20)
    value: str | None = None


class KeyTokensToDate(SQLModel, table=True):
    """Tokens each API key used from its first day through ``date`` (a running total, one row
    per key and day it has usage; ``api_key`` "" is the null key). Any range's total is then
    two lookups per key, so "the largest API keys of the month" reads ~2 rows per key instead
    of adding up every key's every day. Kept from ``usage_daily`` by the sync (``app.running_
    totals``); a test proves it equals the sums of the daily rows."""

    __tablename__ = "key_tokens_to_date"
    __table_args__ = (
        Index("ix_key_tokens_to_date", "organization_pk", "api_key", "date", "tokens", unique=True),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    api_key: str = Field(max_length=400)
    date: date
    tokens: int = Field(default=0, sa_type=BigInteger)


class DimensionValue(SQLModel, table=True):
    """Every value a filter can offer (workspace, model, tier, cost type, product), per
    organization, kept by the sync as it writes rows: the filter bar reads this small table
    instead of a DISTINCT over millions of rows. ``""`` stands for null."""

    __tablename__ = "dimension_value"
    __table_args__ = (UniqueConstraint("organization_pk", "kind", "value"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    value: str = Field(max_length=400)


class DataVersion(SQLModel, table=True):
    """How many times an organization's rows of one dataset were replaced: bumped by
    ``replace_days`` in the same transaction as the rows, so a reader that saw version N has
    seen every change up to N (the row lock orders the writers of one organization's
    dataset). The app's columnar copy (``app.columnar``) compares it with its own."""

    __tablename__ = "data_version"
    __table_args__ = (UniqueConstraint("organization_pk", "dataset"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    dataset: str = Field(max_length=40)
    version: int = Field(default=0, sa_type=BigInteger)


class DataChange(SQLModel, table=True):
    """The days ``[first_day, last_day)`` that version ``version`` of an organization's dataset
    replaced: what a copy behind by a few versions must read again. The latest ones only
    (``app.store.days.KEPT_CHANGES``); a copy further behind reads the organization whole."""

    __tablename__ = "data_change"
    __table_args__ = (
        Index("ix_data_change_org_dataset_version", "organization_pk", "dataset", "version"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    dataset: str = Field(max_length=40)
    version: int = Field(sa_type=BigInteger)
    first_day: date
    last_day: date


class SyncState(SQLModel, table=True):
    """Where the sync of one dataset of one organization stands.

    A window ``[window_start, window_end)`` is being fetched and everything before ``position``
    is stored; it advances in the same transaction as the rows it covers.
    """

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("organization_pk", "dataset"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    dataset: str = Field(max_length=20)
    window_start: date | None = None
    window_end: date | None = None
    position: date | None = None
    synced_through: date | None = None
    backfill_done: bool = False
    # What is stored, kept current by every page write: the organizations table reads these
    # instead of scanning millions of rows on every page load.
    row_count: int = Field(default=0, sa_type=BigInteger)
    first_day: date | None = None
    last_day: date | None = None
    # Why the dataset could not be fetched at its last attempt (a secondary dataset the key
    # may not read, e.g. per-key cost without Analytics access); None once it syncs.
    unavailable_reason: str | None = Field(default=None, sa_type=Text)


class Restatement(SQLModel, table=True):
    """A day whose stored amount a later sync changed (the trailing window re-read, a
    revision by Anthropic): the day's total before and after, for the data-quality view."""

    __tablename__ = "restatement"
    __table_args__ = (Index("ix_restatement_org_found", "organization_pk", "found_at"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE")
    dataset: str = Field(max_length=20)
    day: date
    before_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    after_cents: Decimal = Field(sa_column=Column(Cents(), nullable=False))
    found_at: datetime = Field(sa_type=UTCDateTime)


class SyncRun(SQLModel, table=True):
    """One run of the sync engine for one organization: what it did and how it ended."""

    __tablename__ = "sync_run"
    id: int | None = Field(default=None, primary_key=True)
    organization_pk: int = Field(foreign_key="organization.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=20)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pages: int = 0
    rows: int = 0
    outcome: str = Field(default=SyncOutcome.RUNNING, max_length=20)
    error: str | None = Field(default=None, sa_type=Text)


class User(SQLModel, table=True):
    """A local account. The password is stored only as a salted scrypt hash."""

    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True, max_length=320)
    name: str | None = None
    role: str = Field(default=Role.VIEWER, max_length=20)
    password_hash: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    failed_sign_ins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_sign_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """Who did what, when: connections, key replacements, deletions, users, failed sign-ins.
    Never any key material or password."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=320)
    action: str = Field(max_length=40)
    target: str | None = Field(default=None, max_length=320)
    detail: str | None = Field(default=None, sa_type=Text)
    # The organization's name when the event happened: still readable once it is deleted
    # (schema v11). Names come from the API, so any length.
    organization_name: str | None = Field(default=None, sa_type=Text)


class AuthSession(SQLModel, table=True):
    """A signed-in browser: only the SHA-256 of its cookie token is stored."""

    __tablename__ = "auth_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins per email address, whether or not an account has it (so an unknown
    address is throttled exactly like a known one and gives nothing away). A sliding window:
    after 15 quiet minutes (no attempt, no lock) counting starts again, so the odd wrong try
    never locks an admin out for good."""

    __tablename__ = "sign_in_throttle"
    email: str = Field(primary_key=True, max_length=320)
    # Attempts that reserved a check in the current window (incremented atomically before the
    # password is checked, so parallel guesses cannot all get through).
    failures: int = 0
    window_started_at: datetime = Field(sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The latest counted attempt: the count starts again only after a quiet window since it
    # (or since the end of the lock it caused), so a guesser who waits out each lock keeps
    # the lock growing instead of resetting it (schema v10).
    last_failure_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
