"""Per-key and per-actor usage from the Usage and Cost Analytics API's ``/analytics/usage``
(issue 16 point 1): synced as its own dataset, its tokens the usage report's per key, workspace,
model and tier; the actor and request count kept; a refused key leaves the organization
healthy and says which report is missing; the API's unconfirmed shapes tolerated. SQLite and
Postgres."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date

from sqlalchemy import Engine, func, select

from app.anthropic.records import parse_key_usage
from app.datasets import Dataset
from app.db import read_session
from app.models import USAGE_MEASURES, KeyUsage, Organization, OrgStatus, SyncState, UsageBucket
from app.reports.export import export_csv
from app.settings import Settings
from app.simulator import Simulator
from tests.test_key_cost_sync import _synced

Grain = tuple[date, str | None, str | None, str | None, str | None]


def _tokens(engine: Engine, table: type, pk: int) -> dict[Grain, list[int]]:
    by = (table.date, table.workspace_id, table.api_key_id, table.model, table.service_tier)
    with read_session(engine) as session:
        rows = session.execute(
            select(*by, *(func.sum(getattr(table, m)) for m in USAGE_MEASURES))
            .where(table.organization_pk == pk)
            .group_by(*by)
        )
        return {tuple(r[:5]): [int(v) for v in r[5:]] for r in rows}


def test_per_key_usage_is_the_usage_reports_tokens_with_actors_and_requests(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _org_id, pk = _synced(sim, engine, settings)
    usage = _tokens(engine, UsageBucket, pk)
    # The usage report also lists days and keys without tokens: the Analytics API does not.
    assert _tokens(engine, KeyUsage, pk) == {g: v for g, v in usage.items() if any(v)}
    with read_session(engine) as session:
        types = set(session.execute(select(KeyUsage.actor_type).distinct()).scalars())
        requests = session.execute(select(func.sum(KeyUsage.requests))).scalar_one()
        named = session.execute(
            select(func.count()).where(
                KeyUsage.actor_type == "user", KeyUsage.actor_name.is_not(None)
            )
        ).scalar_one()
    assert {"user", "service_account", "api_key"} <= types
    assert requests > 0 and named > 0


def test_a_refused_key_leaves_the_organization_healthy_and_names_the_report(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    sim.key_cost.refuse = 403
    _org_id, pk = _synced(sim, engine, settings)
    with read_session(engine) as session:
        org = session.get(Organization, pk)
        assert org is not None and org.status == OrgStatus.HEALTHY
        state = session.execute(
            select(SyncState).where(SyncState.dataset == Dataset.KEY_USAGE)
        ).scalar_one()
        assert (state.unavailable_reason or "").startswith("Per-key usage is unavailable")
        assert session.execute(select(func.count()).select_from(KeyUsage)).scalar_one() == 0


def test_the_unconfirmed_shapes_are_tolerated() -> None:
    row = {
        "starting_at": "2026-09-03T00:00:00Z",
        "ending_at": "2026-09-04T00:00:00Z",
        "group": {
            "workspace_id": None,
            "api_key_id": "apikey_01",
            "actor": {"type": "user_actor", "user_id": "user_01", "email_address": "a@b.c"},
            "model": "claude-sonnet-5",
            "slack_channel_id": "C123",  # a dimension this version does not store
        },
        # No uncached_input_tokens (UNCONFIRMED): the total less the rest; counts as strings.
        "usage": {
            "cache_creation": {"ephemeral_5m_input_tokens": 5, "ephemeral_1h_input_tokens": 0},
            "cache_read_input_tokens": "10",
            "output_tokens": 20,
            "server_tool_use": {"web_search_requests": 1},
            "requests": None,
            "total_tokens": 100,
        },
    }
    record = parse_key_usage(row)
    assert record.day == date(2026, 9, 3)
    assert record.measures["uncached_input_tokens"] == 65
    assert record.measures["requests"] is None
    assert record.dims["actor_type"] == "user" and record.dims["actor_id"] == "user_01"
    assert record.measures["actor_name"] == "a@b.c"
    assert record.extra["slack_channel_id"] == "C123"


def test_the_key_usage_export(sim: Simulator, engine: Engine, settings: Settings) -> None:
    org_id, pk = _synced(sim, engine, settings)
    out = io.StringIO()
    export_csv(engine=engine, dataset="key_usage", out=out, organization_id=org_id)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows and rows[0].keys() >= {"api_key_id", "actor_type", "actor_id", "requests"}
    by_actor: dict[str, int] = defaultdict(int)
    for r in rows:
        by_actor[r["actor_type"]] += int(r["output_tokens"])
    with read_session(engine) as session:
        total = session.execute(
            select(func.sum(UsageBucket.output_tokens)).where(UsageBucket.organization_pk == pk)
        ).scalar_one()
    assert sum(by_actor.values()) == total


def test_usage_by_actor_names_the_people_and_adds_up_to_their_tokens(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    from datetime import timedelta

    from app.reports.filters import Filters
    from app.reports.usage import has_key_usage, usage_by_day

    assert not has_key_usage(engine)
    _org_id, pk = _synced(sim, engine, settings)
    assert has_key_usage(engine)
    with read_session(engine) as session:
        first, last, output = session.execute(
            select(
                func.min(KeyUsage.date), func.max(KeyUsage.date), func.sum(KeyUsage.output_tokens)
            )
        ).one()
        people = set(
            session.execute(
                select(KeyUsage.actor_name).where(KeyUsage.actor_type == "user").distinct()
            ).scalars()
        )
    rows = usage_by_day(engine, Filters(first, last + timedelta(days=1)), "actor")
    assert sum(v["output_tokens"] for _, _, v in rows) == output
    assert people and people <= {label for _, label, _ in rows}
