"""Helpers that connect simulator organizations and read back what the product stored."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import SQLModel

from app.anthropic.admin import AdminClient
from app.anthropic.analytics import AnalyticsClient
from app.anthropic.schemas import TOKEN_FIELDS
from app.clock import utcnow
from app.db import read_session
from app.keystore import KeyStore
from app.models import CostLine, Organization, Provider, UsageBucket
from app.runtime import Client, ClientFactory, key_probe
from app.services.access import OPERATOR
from app.services.connections import Connection, connect
from app.settings import Settings
from app.simulator import SimOrg, Simulator
from ingest.sync import Syncer

TOKEN_COLUMNS = TOKEN_FIELDS


def sim_factory(sim: Simulator, settings: Settings, **client_kwargs: object) -> ClientFactory:
    """Clients that talk to the simulator in-process and never really sleep between retries."""

    def make(org: Organization, key: str) -> Client:
        api: type[Client] = AnalyticsClient if org.provider == Provider.ENTERPRISE else AdminClient
        return api(
            key,
            base_url=settings.anthropic_base_url,
            transport=sim.transport(),
            max_retries=settings.max_retries,
            sleep=lambda _s: None,
            **client_kwargs,  # type: ignore[arg-type]
        )

    return make


def connect_org(
    sim: Simulator, org: SimOrg, *, engine: Engine, settings: Settings, label: str | None = None
) -> Connection:
    return connect(
        org.admin_key,
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        actor=OPERATOR,
        label=label,
        probe=key_probe(settings, transport=sim.transport()),
    )


def connect_enterprise(
    sim: Simulator, key: str, *, engine: Engine, settings: Settings, name: str = "Globex AI"
) -> Connection:
    """Connect a simulated Claude Enterprise organization by its Analytics API key."""
    return connect(
        key,
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        actor=OPERATOR,
        label=name,
        probe=key_probe(settings, transport=sim.transport()),
        provider=Provider.ENTERPRISE,
    )


def sync_engine(sim: Simulator, engine: Engine, settings: Settings) -> Syncer:
    return Syncer(
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        client_factory=sim_factory(sim, settings),
    )


def org_pk(engine: Engine, organization_id: str) -> int:
    with read_session(engine) as session:
        return int(
            session.execute(
                select(Organization.id).where(Organization.organization_id == organization_id)
            ).scalar_one()
        )


def stored_cost(
    engine: Engine, organization_id: str
) -> dict[tuple[date, str | None, str | None], Decimal]:
    """Cents per (day, workspace, model), summed in SQL as the dashboards will."""
    pk = org_pk(engine, organization_id)
    with read_session(engine) as session:
        rows = session.execute(
            select(
                CostLine.date,
                CostLine.workspace_id,
                CostLine.model,
                func.sum(CostLine.amount_cents),
            )
            .where(CostLine.organization_pk == pk)
            .group_by(CostLine.date, CostLine.workspace_id, CostLine.model)
        )
        return {(d, w, m): Decimal(total) for d, w, m, total in rows}


def truth_cost(
    sim: Simulator, organization_id: str, start: date, end: date
) -> dict[tuple[date, str | None, str | None], Decimal]:
    totals: dict[tuple[date, str | None, str | None], Decimal] = defaultdict(Decimal)
    for row in sim.truth_cost(organization_id, start, end):
        totals[(row.date, row.workspace_id, row.model)] += row.amount_cents
    return dict(totals)


def stored_usage(
    engine: Engine, organization_id: str
) -> dict[tuple[date, str | None, str | None], tuple[int, ...]]:
    pk = org_pk(engine, organization_id)
    with read_session(engine) as session:
        columns = [func.sum(getattr(UsageBucket, c)) for c in TOKEN_COLUMNS]
        rows = session.execute(
            select(UsageBucket.date, UsageBucket.workspace_id, UsageBucket.model, *columns)
            .where(UsageBucket.organization_pk == pk)
            .group_by(UsageBucket.date, UsageBucket.workspace_id, UsageBucket.model)
        )
        return {(r[0], r[1], r[2]): tuple(int(v) for v in r[3:]) for r in rows}


def truth_usage(
    sim: Simulator, organization_id: str, start: date, end: date
) -> dict[tuple[date, str | None, str | None], tuple[int, ...]]:
    totals: dict[tuple[date, str | None, str | None], list[int]] = defaultdict(lambda: [0] * 6)
    for row in sim.truth_usage(organization_id, start, end):
        acc = totals[(row.date, row.workspace_id, row.model)]
        for i, name in enumerate(TOKEN_COLUMNS):
            acc[i] += getattr(row, name)
    return {k: tuple(v) for k, v in totals.items() if any(v)}


def row_counts(engine: Engine) -> tuple[int, int]:
    with read_session(engine) as session:
        cost = session.execute(select(func.count()).select_from(CostLine)).scalar_one()
        usage = session.execute(select(func.count()).select_from(UsageBucket)).scalar_one()
        return int(cost), int(usage)


def rows_of_organization(engine: Engine, organization_pk: int) -> dict[str, int]:
    """Rows of ``organization_pk`` in every table with a foreign key to ``organization``, read
    from the schema itself (not from the product's own list)."""
    org = SQLModel.metadata.tables["organization"]
    counts = {}
    with read_session(engine) as session:
        for table in SQLModel.metadata.sorted_tables:
            for fk in table.foreign_keys:
                if fk.column.table is org:
                    query = select(func.count()).where(fk.parent == organization_pk)
                    counts[table.name] = int(session.execute(query).scalar_one())
    return counts


def add_console_orgs(session: Any, prefix: str, count: int, start: date) -> list[int]:
    """``count`` healthy Console organizations ("<prefix>-0", …, named "Top 0", …) whose
    backfill is done and next run far off, added in ``session``; their pks."""
    pks = []
    for i in range(count):
        org = Organization(
            organization_id=f"{prefix}-{i}",
            name=f"Top {i}",
            key_ciphertext="x",
            key_hint="sk-ant-admin01-…test",
            status="healthy",
            backfill_start=start,
            created_at=utcnow(),
            backfill_progress=1.0,
            next_run_at=utcnow() + timedelta(days=3650),
        )
        session.add(org)
        session.flush()
        assert org.id is not None
        pks.append(org.id)
    return pks


@dataclass(frozen=True)
class EnterpriseSpec:
    """The Claude Enterprise organization ``synced_orgs`` adds: its seed, its name upstream and
    the label it is connected under."""

    seed: int = 73
    name: str = "Initech"
    label: str = "Globex AI"


INITECH = EnterpriseSpec()


def synced_orgs(
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    *,
    enterprise: EnterpriseSpec = INITECH,
) -> list[str]:
    """Every Console organization of ``sim`` and a Claude Enterprise one (``enterprise``),
    connected and synced; their organization ids (the Enterprise one last)."""
    sim.analytics_rpm = None
    ent = sim.add_enterprise_org(name=enterprise.name, seed=enterprise.seed)
    ids = []
    for org in list(sim.orgs.values()):
        connect_org(sim, org, engine=engine, settings=settings)
        ids.append(org.id)
    fast = settings.model_copy(update={"enterprise_requests_per_minute": 100_000})
    connected = connect_enterprise(
        sim, ent.key, engine=engine, settings=fast, name=enterprise.label
    )
    ids.append(connected.organization_id)
    sync = sync_engine(sim, engine, fast)
    for organization_id in ids:
        assert sync.run(org_pk(engine, organization_id)).outcome == "ok"
    return ids
