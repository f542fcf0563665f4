"""Claude Enterprise organizations through the Analytics API, beside a Console organization:
ground-truth totals, the API's rules (2026-01-01, 31-day queries, no today, 30-day revisions,
410 restarts, 404 for a key without read:analytics), on SQLite and on Postgres."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from app.anthropic.errors import KeyRejected
from app.anthropic.keys import KeyFormatError
from app.clock import months_back, today
from app.db import read_session
from app.keystore import KeyStore
from app.models import CostLine, EngagementDay, OrgStatus, Provider, UsageBucket, UserCost
from app.reports.export import export_csv
from app.services.organizations import list_organizations
from app.settings import Settings
from app.simulator import Simulator
from ingest.sync import Syncer
from ingest.windows import ANALYTICS_FIRST_DAY
from tests.utils.factories import (
    connect_enterprise,
    connect_org,
    org_pk,
    sim_factory,
    sync_engine,
)


@pytest.fixture
def enterprise_settings(settings: Settings) -> Settings:
    # The simulator's rate limit is off in these tests; pacing is tested on the client.
    return settings.model_copy(update={"enterprise_requests_per_minute": 100_000})


@pytest.fixture
def esim() -> Simulator:
    sim = Simulator(history_days=400, seed=5)
    sim.add_org(name="Acme Console", seed=31)
    sim.add_enterprise_org(name="Globex Enterprise", seed=41)
    sim.analytics_rpm = None
    return sim


def enterprise_org(sim: Simulator):  # type: ignore[no-untyped-def]
    return next(iter(sim.enterprise_orgs.values()))


def stored_cost_by_day(engine: Engine, pk: int) -> dict[date, Decimal]:
    with read_session(engine) as session:
        rows = session.execute(
            select(CostLine.date, func.sum(CostLine.amount_cents))
            .where(CostLine.organization_pk == pk)
            .group_by(CostLine.date)
        )
        return {d: Decimal(v) for d, v in rows}


def truth_cost_by_day(sim: Simulator, org_id: str, start: date, end: date) -> dict[date, Decimal]:
    totals: dict[date, Decimal] = defaultdict(Decimal)
    for row in sim.truth_enterprise_cost(org_id, start, end):
        totals[row.date] += row.amount_cents
    return {d: v for d, v in totals.items() if v}


def backfill(sim: Simulator, engine: Engine, settings: Settings) -> tuple[str, int]:
    ent = enterprise_org(sim)
    conn = connect_enterprise(sim, ent.key, engine=engine, settings=settings, name="Globex AI")
    pk = org_pk(engine, conn.organization_id)
    result = sync_engine(sim, engine, settings).run(pk)
    assert result.outcome == "ok", result.message
    return conn.organization_id, pk


def test_enterprise_backfill_equals_the_api_and_stays_apart_from_console(
    esim: Simulator, engine: Engine, enterprise_settings: Settings
) -> None:
    settings = enterprise_settings
    console = next(iter(esim.orgs.values()))
    connect_org(esim, console, engine=engine, settings=settings)
    console_pk = org_pk(engine, console.id)
    assert sync_engine(esim, engine, settings).run(console_pk).outcome == "ok"
    organization_id, pk = backfill(esim, engine, settings)
    ent = enterprise_org(esim)

    first = max(ANALYTICS_FIRST_DAY, months_back(today(), settings.backfill_months))
    stored = stored_cost_by_day(engine, pk)
    truth = truth_cost_by_day(esim, ent.id, date(2025, 1, 1), today())
    # From the first day both the API and the backfill allow, and never today.
    assert min(stored) == min(d for d in truth if d >= first)
    assert max(stored) == today() - timedelta(days=1)
    assert stored == {d: v for d, v in truth.items() if d >= min(stored)}
    assert sum(stored.values()) > 0

    # Token usage by day and product equals the API's.
    with read_session(engine) as session:
        usage = dict(
            session.execute(
                select(UsageBucket.product, func.sum(UsageBucket.output_tokens))
                .where(UsageBucket.organization_pk == pk)
                .group_by(UsageBucket.product)
            ).all()
        )
    truth_usage: dict[str | None, int] = defaultdict(int)
    for row in esim.truth_enterprise_usage(ent.id, min(stored), today()):
        truth_usage[row.product] += row.output_tokens
    assert usage == {k: v for k, v in truth_usage.items() if v}

    # Per-user cost equals the API's per user; engagement has one row per available day.
    with read_session(engine) as session:
        per_user = dict(
            session.execute(
                select(UserCost.user_id, func.sum(UserCost.amount_cents))
                .where(UserCost.organization_pk == pk)
                .group_by(UserCost.user_id)
            ).all()
        )
        engagement_days = session.execute(
            select(func.count(), func.max(EngagementDay.date)).where(
                EngagementDay.organization_pk == pk
            )
        ).one()
    truth_user: dict[str, Decimal] = defaultdict(Decimal)
    for row in esim.truth_user_cost(ent.id, min(stored), today()):
        truth_user[row.user_id] += row.amount_cents
    assert {k: Decimal(v) for k, v in per_user.items()} == {
        k: v for k, v in truth_user.items() if v
    }
    assert engagement_days[0] > 40 and engagement_days[1] < today() - timedelta(days=1)

    # Side by side, each under its own provider; Console totals are untouched.
    summaries = {s.organization_id: s for s in list_organizations(engine)}
    assert summaries[organization_id].provider_label == "Anthropic (Analytics API)"
    assert summaries[organization_id].as_json()["provider"] == "Anthropic (Analytics API)"
    assert summaries[console.id].as_json()["provider"] == "Anthropic"
    assert summaries[organization_id].status == OrgStatus.HEALTHY
    assert summaries[organization_id].name == "Globex AI"

    out = io.StringIO()
    export_csv(engine=engine, dataset="cost", out=out, organization_id=organization_id)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["provider"] for r in rows} == {"Anthropic (Analytics API)"}
    assert sum(Decimal(r["amount_usd"]) for r in rows) * 100 == sum(stored.values())
    assert len({r["product"] for r in rows} - {""}) >= 2  # spend by product is there


def test_enterprise_resync_is_idempotent_and_follows_30_day_revisions(
    esim: Simulator, engine: Engine, enterprise_settings: Settings
) -> None:
    _, pk = backfill(esim, engine, enterprise_settings)
    ent = enterprise_org(esim)
    before = stored_cost_by_day(engine, pk)
    assert sync_engine(esim, engine, enterprise_settings).run(pk).outcome == "ok"
    assert stored_cost_by_day(engine, pk) == before

    esim.revise_enterprise(ent.id, days=30)
    assert sync_engine(esim, engine, enterprise_settings).run(pk).outcome == "ok"
    after = stored_cost_by_day(engine, pk)
    truth = truth_cost_by_day(esim, ent.id, min(before), today())
    assert after == truth
    assert after != before  # the revision really changed something, and it was followed


def test_expired_cursor_restarts_the_query_without_double_counting(
    esim: Simulator, engine: Engine, enterprise_settings: Settings
) -> None:
    ent = enterprise_org(esim)
    conn = connect_enterprise(esim, ent.key, engine=engine, settings=enterprise_settings)
    pk = org_pk(engine, conn.organization_id)
    # Small pages, so every 31-day query needs a cursor; two of them expire mid-query.
    esim.inject("expire_cursor", route="analytics_cost_report", count=2)
    sync = Syncer(
        engine=engine,
        settings=enterprise_settings,
        keystore=KeyStore.from_settings(enterprise_settings),
        client_factory=sim_factory(esim, enterprise_settings, buckets_per_page=7),
    )
    assert sync.run(pk).outcome == "ok"
    assert sum(r.status == 410 for r in esim.requests) == 2
    stored = stored_cost_by_day(engine, pk)
    assert stored == truth_cost_by_day(esim, ent.id, min(stored), today())


def test_a_key_without_read_analytics_is_refused_with_the_scope_hint(
    esim: Simulator, engine: Engine, enterprise_settings: Settings
) -> None:
    scoped = esim.add_enterprise_org(name="No scope", seed=77, scopes=("read:members",))
    with pytest.raises(KeyRejected, match="read:analytics"):
        connect_enterprise(esim, scoped.key, engine=engine, settings=enterprise_settings)
    console = next(iter(esim.orgs.values()))
    with pytest.raises(KeyFormatError, match="Console Admin key"):
        connect_enterprise(esim, console.admin_key, engine=engine, settings=enterprise_settings)
    assert list_organizations(engine) == []


def test_a_revoked_enterprise_key_marks_the_organization_key_rejected(
    esim: Simulator, engine: Engine, enterprise_settings: Settings
) -> None:
    organization_id, pk = backfill(esim, engine, enterprise_settings)
    enterprise_org(esim).rejected = True
    result = sync_engine(esim, engine, enterprise_settings).run(pk)
    assert result.outcome == "key_rejected"
    (summary,) = [s for s in list_organizations(engine) if s.organization_id == organization_id]
    assert summary.status == OrgStatus.KEY_REJECTED
    assert summary.provider == Provider.ENTERPRISE


def test_the_client_paces_itself_under_the_analytics_rate_limit(esim: Simulator) -> None:
    from app.anthropic.analytics import AnalyticsClient

    slept: list[float] = []
    ent = enterprise_org(esim)
    with AnalyticsClient(
        ent.key,
        base_url="http://simulator.invalid",
        transport=esim.transport(),
        sleep=slept.append,
        requests_per_minute=60,
    ) as client:
        for _ in range(3):
            client.test_analytics(today())
    # Three requests at 60 a minute: two waits of (almost) a second each.
    assert len(slept) == 2 and all(0.9 < s <= 1.0 for s in slept)


def test_groups_beyond_the_apis_top_groups_still_add_up_to_the_total(
    esim: Simulator,
    engine: Engine,
    enterprise_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each bucket holds at most its top N groups: what the cap leaves out is fetched as the
    day's ungrouped total, so stored totals stay exact (N made small here to force it)."""
    import app.simulator.analytics as sim_analytics
    import ingest.sources.enterprise as enterprise_source

    monkeypatch.setattr(sim_analytics, "TOP_GROUPS", 3)
    monkeypatch.setattr(enterprise_source, "ANALYTICS_TOP_GROUPS", 3)
    _, pk = backfill(esim, engine, enterprise_settings)
    stored = stored_cost_by_day(engine, pk)
    assert stored == truth_cost_by_day(esim, enterprise_org(esim).id, min(stored), today())
    with read_session(engine) as session:
        remainder_rows = session.execute(
            select(func.count()).where(
                CostLine.organization_pk == pk, CostLine.extra.contains("top 100")
            )
        ).scalar_one()
    assert remainder_rows > 0  # the cap really cut groups, and the rest was kept


def test_a_stricter_analytics_api_still_gives_exact_totals(
    esim: Simulator,
    engine: Engine,
    enterprise_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An implementation that refuses group_by, refuses bucket_width on the per-user reports,
    and refuses an ending_at of today's midnight: the sync falls back (daily totals, one query
    per day, a day shorter) instead of failing, and every total still equals the API's."""
    import app.simulator.analytics as sim_analytics
    from app.simulator.common import ApiError

    original_groups, original_width, original_range = (
        sim_analytics._groups,
        sim_analytics._width,
        sim_analytics._range,
    )

    def no_groups(params, allowed):  # type: ignore[no-untyped-def]
        if any(name == "group_by[]" for name, _ in params):
            raise ApiError(400, "group_by[]: not supported")
        return original_groups(params, allowed)

    def no_user_buckets(params, *, required):  # type: ignore[no-untyped-def]
        if not required and any(name == "bucket_width" for name, _ in params):
            raise ApiError(400, "bucket_width: not supported here")
        return original_width(params, required=required)

    def not_today(ent, params):  # type: ignore[no-untyped-def]
        start, end = original_range(ent, params)
        if end.date() >= today():
            raise ApiError(400, "ending_at: today is not available yet")
        return start, end

    monkeypatch.setattr(sim_analytics, "_groups", no_groups)
    monkeypatch.setattr(sim_analytics, "_width", no_user_buckets)
    monkeypatch.setattr(sim_analytics, "_range", not_today)
    _, pk = backfill(esim, engine, enterprise_settings)
    ent = enterprise_org(esim)
    stored = stored_cost_by_day(engine, pk)
    assert max(stored) == today() - timedelta(days=2)  # a day shorter, not a failure
    assert stored == truth_cost_by_day(esim, ent.id, min(stored), max(stored) + timedelta(days=1))
    with read_session(engine) as session:
        per_user = session.execute(
            select(func.sum(UserCost.amount_cents)).where(UserCost.organization_pk == pk)
        ).scalar_one()
    truth_user = sum(
        r.amount_cents
        for r in esim.truth_user_cost(ent.id, min(stored), max(stored) + timedelta(days=1))
    )
    assert Decimal(per_user) == truth_user
