"""Demo data beside a real organization (issue 15, defect 5), as a person sees it: left out of
the totals (exact to the cent against the simulator), marked, brought back by "Include demo
data", and removed in one click with a confirmation, audited. With only demo organizations
everything shows as before."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from streamlit.testing.v1 import AppTest

from app.clock import today
from app.db import read_session
from app.keystore import KeyStore
from app.models import AuditEvent, CostDaily, CostLine, UsageBucket
from app.runtime import key_probe
from app.services.access import OPERATOR
from app.services.connections import connect_demo
from app.services.organizations import list_organizations
from app.settings import Settings
from app.simulator import Simulator, UsageTruth
from app.simulator.demo import DEMO_ORG_NAME, demo_simulator
from app.ui.format import md, money
from tests.conftest import DATABASES, database_url_of
from tests.ui.apptest import metrics
from tests.utils.factories import connect_org, org_pk, sync_engine

ADMIN = "admin@example.com"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Both databases: this page's own SQL has no Postgres leg elsewhere."""
    yield from database_url_of(request, tmp_path)


@pytest.fixture
def demo(engine: Engine, settings: Settings) -> tuple[Simulator, str]:
    """The demo organization, connected as "Explore with demo data" does and synced."""
    sim = demo_simulator()
    connection = connect_demo(
        probe=key_probe(settings),
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        actor=OPERATOR,
    )
    org_id = connection.organization_id
    syncer = sync_engine(sim, engine, settings)
    assert syncer.run(org_pk(engine, org_id)).outcome == "ok"
    return sim, org_id


@pytest.fixture
def real(engine: Engine, settings: Settings) -> tuple[Simulator, str]:
    """A real (non-demo) Console organization, connected and synced."""
    sim = Simulator(history_days=70)
    org = sim.add_org(name="Acme Corp", seed=11)
    connect_org(sim, org, engine=engine, settings=settings)
    assert sync_engine(sim, engine, settings).run(org_pk(engine, org.id)).outcome == "ok"
    return sim, org.id


def spend(start: date, end: date, *orgs: tuple[Simulator, str]) -> str:
    """The simulator's truth for ``orgs`` in ``[start, end)``, as the page formats dollars."""
    cents = sum(
        (r.amount_cents for sim, org_id in orgs for r in sim.truth_cost(org_id, start, end)),
        Decimal(0),
    )
    return money(cents.scaleb(-2))


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [t.value for t in at.text] + [s.value for s in at.success]
    return "\n".join(str(p) for p in parts)


def all_tokens(rows: Iterable[UsageTruth]) -> int:
    """Every kind of token of the simulator's usage rows: input, cache writes and reads, output."""
    return sum(
        r.uncached_input_tokens
        + r.cache_creation_5m_input_tokens
        + r.cache_creation_1h_input_tokens
        + r.cache_read_input_tokens
        + r.output_tokens
        for r in rows
    )


def test_demo_data_is_left_out_marked_and_can_be_included(
    app: AppTest, demo: tuple[Simulator, str], real: tuple[Simulator, str]
) -> None:
    first, tomorrow = today().replace(day=1), today() + timedelta(days=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    assert spend(previous, first, demo) != money(Decimal(0))  # the demo adds something
    app.run()
    assert not app.exception
    shown = metrics(app)
    assert shown["Month to date"] == spend(first, tomorrow, real)
    assert shown["Last month"] == spend(previous, first, real)
    assert shown["Today so far (UTC)"] == spend(today(), tomorrow, real)
    page = texts(app)
    assert f"**{md(DEMO_ORG_NAME + ' (demo)')}**" in page  # the freshness list marks it
    assert "**Acme Corp** ·" in page
    assert "Totals leave out the demo data" in page

    app.checkbox(key="overview_include_demo").check().run()
    assert not app.exception
    shown = metrics(app)
    assert shown["Month to date"] == spend(first, tomorrow, real, demo)
    assert shown["Last month"] == spend(previous, first, real, demo)
    assert app.query_params["demo"] == "1"
    app.checkbox(key="overview_include_demo").uncheck().run()
    assert "demo" not in app.query_params

    # Spend and Usage leave it out too (the same SQL condition), and offer the same choice.
    app.switch_page("../pages/spend.py").run()
    assert not app.exception
    start = today() - timedelta(days=29)
    [total] = [m for m in app.metric if m.label.startswith("Total")]
    assert total.value == spend(start, tomorrow, real)
    app.checkbox(key="spend_include_demo").check().run()
    assert not app.exception
    [total] = [m for m in app.metric if m.label.startswith("Total")]
    assert total.value == spend(start, tomorrow, real, demo)
    assert app.query_params["demo"] == "1"  # the filter bar keeps it in the address
    app.checkbox(key="spend_include_demo").uncheck().run()

    sim, org_id = real
    rows = sim.truth_usage(org_id, start, tomorrow)
    tokens = all_tokens(rows)
    app.switch_page("../pages/usage.py").run()
    assert not app.exception
    assert metrics(app)  # the page has its figures
    [tokens_metric] = [m for m in app.metric if m.label == "Tokens"]
    assert tokens_metric.help == f"{tokens:,} tokens of every type"


def test_a_shared_link_with_demo_included_opens_with_it_included(
    app: AppTest, demo: tuple[Simulator, str], real: tuple[Simulator, str]
) -> None:
    first, tomorrow = today().replace(day=1), today() + timedelta(days=1)
    app.query_params["demo"] = "1"
    app.run()
    assert not app.exception
    assert app.checkbox(key="overview_include_demo").value
    assert metrics(app)["Month to date"] == spend(first, tomorrow, real, demo)
    app.checkbox(key="overview_include_demo").uncheck().run()
    assert "demo" not in app.query_params
    assert metrics(app)["Month to date"] == spend(first, tomorrow, real)


def test_remove_demo_data_in_one_click_with_confirmation_is_audited(
    app: AppTest, engine: Engine, demo: tuple[Simulator, str], real: tuple[Simulator, str]
) -> None:
    _, demo_id = demo
    demo_pk = org_pk(engine, demo_id)
    app.switch_page("../pages/organizations.py").run()
    assert not app.exception
    assert f"{DEMO_ORG_NAME} (demo)" in [t.value for t in app.text]

    # Cancel changes nothing.
    next(b for b in app.button if b.label == "Remove demo data").click().run()
    assert any("Remove the demo data?" in m.value for m in app.markdown)
    app.button(key="remove_demo_cancel").click().run()
    assert {o.organization_id for o in list_organizations(engine)} == {demo_id, real[1]}

    next(b for b in app.button if b.label == "Remove demo data").click().run()
    app.button(key="remove_demo_confirm").click().run()
    assert not app.exception
    assert [o.organization_id for o in list_organizations(engine)] == [real[1]]
    assert any("Removed the demo data" in s.value for s in app.success)
    assert not any(b.label == "Remove demo data" for b in app.button)
    with read_session(engine) as session:
        for table in (CostLine, CostDaily, UsageBucket):
            left = session.execute(
                select(func.count()).select_from(table).where(table.organization_pk == demo_pk)
            ).scalar_one()
            assert left == 0, table.__name__
        audited = session.execute(
            select(AuditEvent.actor).where(
                AuditEvent.action == "organization_deleted", AuditEvent.target == demo_id
            )
        ).all()
    assert audited == [(ADMIN,)]

    # Back on the Overview: nothing to choose, nothing marked, the real totals.
    app.switch_page("../pages/overview.py").run()
    assert not app.exception
    assert not app.checkbox
    first, tomorrow = today().replace(day=1), today() + timedelta(days=1)
    assert metrics(app)["Month to date"] == spend(first, tomorrow, real)


def test_only_demo_organizations_show_as_before(app: AppTest, demo: tuple[Simulator, str]) -> None:
    app.run()
    assert not app.exception
    first, tomorrow = today().replace(day=1), today() + timedelta(days=1)
    assert metrics(app)["Month to date"] == spend(first, tomorrow, demo)
    assert not app.checkbox
    page = texts(app)
    assert f"**{md(DEMO_ORG_NAME)}** ·" in page
    assert "leave out the demo data" not in page
    app.switch_page("../pages/organizations.py").run()
    assert not app.exception
    assert not any(b.label == "Remove demo data" for b in app.button)
    assert DEMO_ORG_NAME in [t.value for t in app.text]


def test_a_viewer_cannot_remove_demo_data(
    engine: Engine, demo: tuple[Simulator, str], real: tuple[Simulator, str]
) -> None:
    from app.models import Role
    from app.services.access import Actor, PermissionDenied
    from app.services.organizations import remove_demo_organizations

    with pytest.raises(PermissionDenied):
        remove_demo_organizations(engine=engine, actor=Actor("v@example.com", Role.VIEWER))
    assert len(list_organizations(engine)) == 2
    names = remove_demo_organizations(engine=engine, actor=OPERATOR)
    assert names == [DEMO_ORG_NAME]
    assert [o.organization_id for o in list_organizations(engine)] == [real[1]]


@pytest.mark.parametrize("include_demo", [False, True], ids=["demo left out", "demo included"])
def test_every_report_path_and_its_rollups_agree_on_demo_data(
    engine: Engine,
    demo: tuple[Simulator, str],
    real: tuple[Simulator, str],
    include_demo: bool,
) -> None:
    """The condition is in the SQL of every path: rollups, detail rows, the "Other" fold and
    the API keys' ranking, so a filtered view adds up to the same as an unfiltered one."""
    from dataclasses import replace

    from app.reports.filters import Filters, uses_rollups
    from app.reports.labels import TOKEN_TYPES
    from app.reports.spend import spend_by_day, total_cents
    from app.reports.usage import usage_by_day

    start, end = today() - timedelta(days=29), today() + timedelta(days=1)
    counted = [real, demo] if include_demo else [real]
    cost = [r for sim, org_id in counted for r in sim.truth_cost(org_id, start, end)]
    cents = sum((r.amount_cents for r in cost), Decimal(0))
    every = [r for sim, org_id in (real, demo) for r in sim.truth_cost(org_id, start, end)]
    rollups = Filters(start, end, include_demo=include_demo)
    detail = replace(rollups, cost_types=tuple({r.cost_type for r in every}))
    assert uses_rollups(rollups) and not uses_rollups(detail)
    for f in (rollups, detail):
        assert total_cents(engine, f) == cents
        folded = spend_by_day(engine, f, "workspace", top=2)
        assert sum((c for _, _, c in folded), Decimal(0)) == cents

    usage = [r for sim, org_id in counted for r in sim.truth_usage(org_id, start, end)]
    tokens = all_tokens(usage)
    models = tuple(
        {r.model for sim, org_id in (real, demo) for r in sim.truth_usage(org_id, start, end)}
    )
    for f in (rollups, replace(rollups, models=models)):
        by_key: dict[str, int] = {}
        for _, key, counts in usage_by_day(engine, f, "api_key"):
            by_key[key] = by_key.get(key, 0) + sum(counts[t] for t in TOKEN_TYPES)
        ranked = sorted(by_key, key=lambda k: (-by_key[k], k))
        for top in range(1, len(ranked)):
            rows = usage_by_day(engine, f, "api_key", top=top)
            assert sum(sum(v[t] for t in TOKEN_TYPES) for _, _, v in rows) == tokens
            # The largest keys are ranked by what is in view: a left-out demo key's tokens
            # never lift a key into the chart.
            named = {g for _, g, _ in rows if not g.startswith("Other (")}
            assert named == set(ranked[:top]), top
