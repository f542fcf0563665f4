"""`make bench` compares the dashboard queries with DuckDB (bench/duck.py): its ratios mean
something only if DuckDB answers the same question. Here, over organizations that have what the
bench's own data lacks (a Claude Enterprise organization's nulls, a Console organization's web
search without a token type, the default workspace and the Workbench key, one workspace name in
two organizations, ties at the cut), every Spend and Usage grouping (models by name and by id
included), folded or not, over the rollups and over the detail rows, is answered by DuckDB on
the raw rows and on the copied rollups with the same labels and the same figures, to the cent
and the token; and the filter choices are the same."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from app.anthropic.schemas import CostRow, UsageRow
from app.clock import today
from app.db import write_session
from app.models import ApiKey, Workspace
from app.reports.filters import Filters, uses_rollups
from app.reports.labels import MODEL_IDS, SPEND_GROUPS, USAGE_GROUPS
from app.reports.options import filter_options
from app.reports.spend import spend_by_day
from app.reports.usage import usage_by_day
from app.settings import Settings
from app.simulator import Simulator
from bench.duck import DuckQueries, load
from tests.utils.factories import (
    add_console_orgs,
    connect_enterprise,
    connect_org,
    org_pk,
    sync_engine,
)

DAY = date(2026, 3, 2)


# (organization, day offset, workspace, API key, model, tier, token type, cost type, cents):
# the default workspace and the Workbench key (null), an alias and its dated id (one model),
# "Shared" and "Second" in both organizations (two groups each, tied), web search and code
# execution without model, token type or tier (as the API reports them), a group of nothing.
ROWS = [
    (0, 0, None, None, "claude-sonnet-4-5", "batch", "output_tokens", "tokens", 60),
    (
        0,
        1,
        None,
        None,
        "claude-sonnet-4-5-20250929",
        "batch",
        "uncached_input_tokens",
        "tokens",
        40,
    ),
    (1, 0, None, "key_b0", "claude-opus-4-1", "batch", "output_tokens", "tokens", 5),
    (0, 0, "wrk_a1", "key_a1", "claude-sonnet-4-5", "batch", "output_tokens", "tokens", 30),
    (0, 2, "wrk_a2", "key_a2", "claude-haiku-4-5", "batch", "output_tokens", "tokens", 25),
    (1, 2, "wrk_b1", "key_b1", "claude-haiku-4-5", "batch", "output_tokens", "tokens", 25),
    (1, 1, "wrk_b2", "key_b2", "claude-opus-4-1", "standard", "output_tokens", "tokens", 1000),
    (0, 2, "wrk_a1", None, None, None, None, "web_search", 7),
    (1, 1, "wrk_b2", None, None, None, None, "code_execution", 3),
    (1, 0, "wrk_b3", "key_b3", "claude-unknown-model", "batch", "output_tokens", "tokens", 0),
]
NAMES = {
    "wrk_a1": "Alpha",
    "wrk_a2": "Shared",
    "wrk_b1": "Shared",
    "wrk_b2": "Beta",
    "wrk_b3": "Zero",
}
KEY_NAMES = {"key_a1": "Alpha key", "key_a2": "Second", "key_b1": "Second", "key_b2": "Beta key"}


def store_rows(engine: Engine) -> None:
    """Two Console organizations, their directories and ROWS, through the sync's write path."""
    from app.store import replace_days

    with write_session(engine) as session:
        pks = add_console_orgs(session, "org-duck", 2, DAY)
        session.add_all(
            Workspace(organization_pk=pks[o], workspace_id=ws, name=NAMES[ws])
            for o, ws in sorted({(r[0], r[2]) for r in ROWS if r[2] is not None})
        )
        session.add_all(
            ApiKey(organization_pk=pks[o], api_key_id=key, name=KEY_NAMES[key])
            for o, key in sorted({(r[0], r[3]) for r in ROWS if r[3] in KEY_NAMES})
        )
        session.flush()
        for o, pk in enumerate(pks):
            cost: list[CostRow] = []
            usage: list[UsageRow] = []
            for n, (org, offset, ws, key, model, tier, token, cost_type, cents) in enumerate(ROWS):
                if org != o:
                    continue
                day = DAY + timedelta(days=offset)
                dims = {"workspace_id": ws, "model": model, "service_tier": tier}
                cost.append(
                    CostRow(
                        day=day,
                        dims={
                            **dims,
                            "description": f"line {n % 3}" if cents else None,
                            "cost_type": cost_type,
                            "token_type": token,
                        },
                        amount_cents=Decimal(cents) + (Decimal("0.000125") if cents else 0),
                        currency="USD",
                    )
                )
                if cost_type != "tokens":
                    continue
                usage.append(
                    UsageRow(
                        day=day,
                        dims={**dims, "api_key_id": key, "context_window": f"c{n}"},
                        tokens={
                            "uncached_input_tokens": cents * 1000,
                            "cache_creation_5m_input_tokens": 0,
                            "cache_creation_1h_input_tokens": cents % 7,
                            "cache_read_input_tokens": cents * 3,
                            "output_tokens": cents,
                            "web_search_requests": n,
                        },
                    )
                )
            replace_days(session, pk, "cost", DAY, DAY + timedelta(days=3), cost)
            replace_days(session, pk, "usage", DAY, DAY + timedelta(days=3), usage)


@pytest.fixture
def copied(engine: Engine, settings: Settings) -> tuple[DuckQueries, DuckQueries]:
    """Two Console organizations with same-named workspaces (test_top_detail's rows), a
    simulated Console organization and a Claude Enterprise one, synced; copied to DuckDB."""
    store_rows(engine)
    sim = Simulator(history_days=40)
    acme = sim.add_org(name="Acme Corp", seed=11)
    sim.analytics_rpm = None
    ent = sim.add_enterprise_org(name="Initech Enterprise", seed=73)
    sync = sync_engine(sim, engine, settings)
    connect_org(sim, acme, engine=engine, settings=settings)
    assert sync.run(org_pk(engine, acme.id)).outcome == "ok"
    conn = connect_enterprise(sim, ent.key, engine=engine, settings=settings, name="Initech")
    assert sync.run(org_pk(engine, conn.organization_id)).outcome == "ok"
    con, rows, _ = load(engine)
    assert rows > 0
    return DuckQueries(con), DuckQueries(con, rollups=True)


def views(options: dict[str, list[tuple[str, str]]]) -> list[Filters]:
    start, end = min(DAY, today() - timedelta(days=45)), today() + timedelta(days=1)
    tiers = tuple(v for v, _ in options["service_tiers"])
    return [
        Filters(start, end),  # the rollups
        Filters(start, end, service_tiers=tiers),  # every tier: the detail rows, same total
        Filters(
            start, end, service_tiers=("batch",), workspaces=("", "wrk_a1", "wrk_a2", "wrk_b1")
        ),
        Filters(start, end, models=tuple(v for v, _ in options["models"][:3])),
    ]


@pytest.mark.parametrize("top", [None, 2, 12])
def test_duckdb_answers_every_view_as_the_product_does(
    engine: Engine, copied: tuple[DuckQueries, DuckQueries], top: int | None
) -> None:
    raw, rollups = copied
    filters = views(filter_options(engine))
    assert uses_rollups(filters[0]) and not uses_rollups(filters[1])
    labels: set[str] = set()
    for f in filters:
        for page, groups in (("spend", SPEND_GROUPS), ("usage", USAGE_GROUPS)):
            ours_of = spend_by_day if page == "spend" else usage_by_day
            for group in [*groups, MODEL_IDS]:
                if page == "usage" and group not in USAGE_GROUPS and group != MODEL_IDS:
                    continue
                ours = ours_of(engine, f, group, top)
                for dq in (raw, rollups):
                    theirs = (dq.spend_by_day if page == "spend" else dq.usage_by_day)(
                        f, group, top
                    )
                    assert theirs == ours, (page, group, top, f, dq.rollups)
                labels |= {g for _, g, _ in ours}
    if top == 2:
        assert any(label.startswith("Other (") for label in labels)
        return
    # What the comparison covered: the labels of the product's groups that the old SQL
    # spelled differently or merged.
    assert "Claude Enterprise (not by token type)" in labels
    assert {"Web search", "Code execution"} <= labels
    assert {"Second · Top 0", "Second · Top 1"} <= labels
    assert {"Shared · Top 0", "Shared · Top 1"} <= labels
    assert any(label.startswith("Claude Sonnet") for label in labels)


def test_duckdb_offers_the_filter_choices_the_product_offers(
    engine: Engine, copied: tuple[DuckQueries, DuckQueries]
) -> None:
    raw, _ = copied
    # Actors come from the per-key tables, which the DuckDB copy does not hold.
    ours = {k: sorted(v) for k, v in filter_options(engine).items() if k != "actors"}
    assert {k: sorted(v) for k, v in raw.filter_options().items()} == ours
    assert ours["api_keys"]  # not vacuous
    assert ("wrk_a2", "Shared · Top 0") in ours["workspaces"]
