"""The named contracts (issue 13): the StrEnums keep the stored values of the schema and the CLI
(PRODUCT.md), bind as those plain strings on SQLite and Postgres (psycopg 3: parameters, the
ORM and COPY), read back as plain strings and print as them in JSON; and the dataset
registry agrees with the schema and the parsers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import SQLModel, col

from app.anthropic.schemas import parse_usage_result
from app.datasets import (
    CORE_DATASETS,
    EXPORT_DATASETS,
    REGISTRY,
    Dataset,
    data_tables,
    datasets_of,
    registry_tables,
)
from app.db import make_engine, migrate, read_session, write_session
from app.models import (
    USAGE_MEASURES,
    Organization,
    OrgStatus,
    Provider,
    Role,
    SyncOutcome,
    SyncRun,
    SyncState,
    User,
)
from app.reports.labels import PROVIDER_LABELS, provider_label
from app.services.organizations import list_organizations, organization_tables
from app.store.bulk import insert_tuples


def test_the_stored_values_are_the_contract() -> None:
    """The database holds these strings and `finops orgs --json` prints them: never renamed."""
    assert [s.value for s in OrgStatus] == ["backfilling", "healthy", "key_rejected", "failing"]
    assert [p.value for p in Provider] == ["anthropic", "anthropic_enterprise"]
    assert [r.value for r in Role] == ["admin", "viewer"]
    assert Role.ALL == ("admin", "viewer")
    assert [o.value for o in SyncOutcome] == [
        "ok",
        "failed",
        "key_rejected",
        "skipped",
        "stopped",
        "running",
        "interrupted",
    ]
    assert [d.value for d in Dataset] == [
        "usage",
        "cost",
        "claude_code",
        "key_cost",
        "key_usage",
        "user_cost",
        "user_usage",
        "engagement",
    ]


def test_members_are_their_plain_values_in_text_and_json() -> None:
    assert str(OrgStatus.HEALTHY) == f"{OrgStatus.HEALTHY}" == "healthy"
    assert "%s" % SyncOutcome.KEY_REJECTED == "key_rejected"  # noqa: UP031 (log formatting)
    assert json.dumps({"status": OrgStatus.KEY_REJECTED, "dataset": Dataset.USER_COST}) == (
        '{"status": "key_rejected", "dataset": "user_cost"}'
    )
    assert OrgStatus.FAILING == "failing"
    assert {"anthropic": 1}[Provider.CONSOLE] == 1  # hashes as its value


def test_provider_labels_keep_their_public_behaviour() -> None:
    assert provider_label(Provider.CONSOLE) == "Anthropic"
    assert provider_label("anthropic_enterprise") == "Anthropic (Analytics API)"
    assert provider_label("something_newer") == "something_newer"
    assert PROVIDER_LABELS == {
        "anthropic": "Anthropic",
        "anthropic_enterprise": "Anthropic (Analytics API)",
    }
    assert len(Provider) == 2  # LABELS is not a member


@pytest.fixture
def db(database_url: str) -> Any:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def test_enum_valued_columns_round_trip_as_plain_strings(db: Engine) -> None:
    """On each backend: written through the ORM, Core parameters and the bulk path (COPY on
    Postgres), the stored text is the value (never the member's name), a filter by a member
    finds it, and what comes back is a plain ``str``."""
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with write_session(db) as session:
        org = Organization(
            organization_id="org-enum",
            name="Enum Corp",
            provider=Provider.ENTERPRISE,
            key_ciphertext="x",
            key_hint="sk-…abcd",
            status=OrgStatus.KEY_REJECTED,
            backfill_start=date(2026, 1, 1),
            created_at=now,
        )
        session.add(org)
        session.add(User(email="a@example.com", role=Role.ADMIN, password_hash="h", created_at=now))
        session.flush()
        assert org.id is not None
        session.add(SyncState(organization_pk=org.id, dataset=Dataset.USER_USAGE))
        session.add(SyncRun(organization_pk=org.id, kind="backfill", started_at=now))
        session.flush()
        # The bulk path the write path uses: COPY on Postgres, an executemany on SQLite.
        table = SyncRun.__table__
        insert_tuples(
            session,
            table,
            [table.c[c] for c in ("organization_pk", "kind", "started_at", "pages", "rows")]
            + [table.c.outcome],
            [(org.id, "backfill", now, 0, 0, SyncOutcome.INTERRUPTED)],
        )
    with db.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT o.status, o.provider, s.dataset, u.role FROM organization o "
                "JOIN sync_state s ON s.organization_pk = o.id, app_user u"
            )
        ).one()
        outcomes = sorted(conn.execute(text("SELECT outcome FROM sync_run")).scalars())
    assert tuple(stored) == ("key_rejected", "anthropic_enterprise", "user_usage", "admin")
    assert outcomes == ["interrupted", "running"]  # the model's default is RUNNING's value
    with read_session(db) as session:
        found = session.execute(
            select(Organization).where(
                col(Organization.status) == OrgStatus.KEY_REJECTED,
                col(Organization.provider) == Provider.ENTERPRISE,
            )
        ).scalar_one()
        assert type(found.status) is str and found.status == OrgStatus.KEY_REJECTED
        running = session.execute(
            select(col(SyncRun.id)).where(col(SyncRun.outcome) == SyncOutcome.RUNNING)
        ).all()
        assert len(running) == 1
        state = session.execute(
            select(SyncState).where(col(SyncState.dataset) == Dataset.USER_USAGE)
        ).scalar_one()
        assert REGISTRY[Dataset(state.dataset)].name is Dataset.USER_USAGE
    [summary] = list_organizations(db)
    printed = json.loads(json.dumps(summary.as_json()))
    assert printed["status"] == "key_rejected"
    assert printed["provider_id"] == "anthropic_enterprise"
    assert printed["provider"] == "Anthropic (Analytics API)"


# --- the dataset registry -------------------------------------------------------------------


def test_the_registry_orders_the_sync_and_the_export() -> None:
    assert CORE_DATASETS == (Dataset.USAGE, Dataset.COST)
    assert datasets_of(Provider.CONSOLE) == (
        "usage",
        "cost",
        "claude_code",
        "key_cost",
        "key_usage",
    )
    assert datasets_of(Provider.ENTERPRISE) == (
        "usage",
        "cost",
        "user_cost",
        "user_usage",
        "engagement",
    )
    assert datasets_of("unknown") == datasets_of(Provider.CONSOLE)
    # `finops export --dataset` names (PRODUCT.md), the contract's two first.
    assert EXPORT_DATASETS == (
        "cost",
        "usage",
        "claude_code",
        "key_cost",
        "key_usage",
        "user_cost",
        "user_usage",
        "engagement",
    )


def test_every_registered_column_exists_in_its_table() -> None:
    for spec in REGISTRY.values():
        columns = set(spec.detail_table.c.keys())
        filtered = {c for value in spec.filters.values() for c in value.split("|")}
        assert filtered <= columns, spec.name
        assert {attr for _, attr in spec.export.copied} <= columns, spec.name
        if spec.rollup is not None:
            assert set(spec.rollup.dims.values()) <= columns, spec.name
            rollup_columns = set(spec.rollup.table.__table__.c.keys())
            assert set(spec.rollup.measures) <= rollup_columns & columns, spec.name
            assert {"organization_pk", "date", "dim", "value"} <= rollup_columns


def test_the_registry_covers_every_table_of_an_organization() -> None:
    """A table with an organization's rows (a foreign key to ``organization``) is either a
    dataset's table, a rollup, a derived table or bookkeeping in app.datasets: a new dataset
    cannot be left out of deletion, statistics or the registry's other readers."""
    org = SQLModel.metadata.tables["organization"]
    owned = {
        table.name
        for table in SQLModel.metadata.sorted_tables
        if any(fk.column.table is org for fk in table.foreign_keys)
    }
    registered = [table.name for table in registry_tables()]
    assert len(registered) == len(set(registered))
    assert set(registered) == owned
    # Deletion derives its tables from the same foreign keys: it empties all of these.
    assert {table.name for table in organization_tables()} == set(registered)
    assert {t.name for t in data_tables()} < owned


def test_the_usage_parser_keeps_the_usage_measures_in_order() -> None:
    row = parse_usage_result(date(2026, 3, 1), {"uncached_input_tokens": 1})
    assert tuple(row.tokens) == USAGE_MEASURES
    for model in ("usage_bucket", "user_usage", "usage_daily"):
        columns = SQLModel.metadata.tables[model].c
        for name in USAGE_MEASURES:
            assert not columns[name].nullable and columns[name].default.arg == 0
