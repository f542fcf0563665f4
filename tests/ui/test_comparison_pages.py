"""Headline figures against the previous period, and unit economics, as a person sees them
(issue 15, "What users expect of the pages": comparison and unit economics).

AppTest against the simulator: each metric's delta is the change against the period of equal
length before (a month to date against the same days of last month), from the stored rows; a
previous period without data says so; the unit economics table by model and the Enterprise
page's spend per active user equal the stored rows and list prices worked out here, to the
cent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from app.clock import today
from app.db import read_session
from app.models import CostLine, EngagementDay, Organization, Provider, UsageBucket
from app.settings import Settings
from app.simulator import Simulator
from app.ui.format import money
from tests.conftest import DATABASES, database_url_of
from tests.ui.apptest import csv_rows
from tests.utils.factories import EnterpriseSpec
from tests.utils.snapshots import synced_copy

SPEND, USAGE, ENTERPRISE = "../pages/spend.py", "../pages/usage.py", "../pages/enterprise.py"
TODAY = today()
START, END = TODAY - timedelta(days=29), TODAY + timedelta(days=1)  # the default 30 days
BEFORE = (START - timedelta(days=30), START)  # the 30 days before them

# List prices (USD per million uncached input tokens) from Anthropic's pricing page, as the
# reference copies it (§9.2), for the models the simulator uses; 4.6+ models cost 1.1 x with
# US residency, Sonnet 4.5 requests of 200k-1M input tokens $6. Its "Nimbus 7" has none.
INPUT_PRICE = {
    "claude-opus-4-6": ("5", True),
    "claude-opus-4-8": ("5", True),
    "claude-sonnet-4-6": ("3", True),
    "claude-sonnet-4-5": ("3", False),
    "claude-sonnet-4-5-20250929": ("3", False),
    "claude-haiku-4-5": ("1", False),
    "claude-haiku-4-5-20251001": ("1", False),
    "claude-3-5-haiku-20241022": ("0.80", False),
}
NAMES = {
    "claude-opus-4-6": "Claude Opus 4.6",
    "claude-opus-4-8": "Claude Opus 4.8",
    "claude-sonnet-4-6": "Claude Sonnet 4.6",
    "claude-sonnet-4-5": "Claude Sonnet 4.5",
    "claude-sonnet-4-5-20250929": "Claude Sonnet 4.5",
    "claude-haiku-4-5": "Claude Haiku 4.5",
    "claude-haiku-4-5-20251001": "Claude Haiku 4.5",
    "claude-3-5-haiku-20241022": "Claude Haiku 3.5",
    "claude-nimbus-7-preview": "claude-nimbus-7-preview",
}
TOKENS = (
    "uncached_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)
CENT = Decimal("0.01")


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Both databases: this page's own SQL has no Postgres leg elsewhere."""
    yield from database_url_of(request, tmp_path)


@pytest.fixture
def synced(engine: Engine, settings: Settings) -> Simulator:
    """Two Console organizations and a Claude Enterprise one, synced: 100 days of history,
    enough for this month, the last and the one before (200 doubled the setup)."""
    sim = Simulator(history_days=100)
    sim.add_org(name="Acme Corp", seed=11)
    sim.add_org(name="Globex", seed=22)
    initech = EnterpriseSpec(name="Initech Enterprise", label="Initech")
    synced_copy(sim, engine, settings, enterprise=initech)
    return sim


@pytest.fixture
def app(synced: Simulator, app: AppTest) -> AppTest:
    """The signed-in app (tests/ui/conftest.py) over the synced data; synced first, as the
    copy of a synced database replaces everything in this one (the admin too)."""
    return app


def stored_spend(engine: Engine, start: date, end: date) -> Decimal:
    """Billed USD of every stored cost row in ``[start, end)``, summed here."""
    with read_session(engine) as session:
        amounts = session.execute(
            select(CostLine.amount_cents).where(CostLine.date >= start, CostLine.date < end)
        ).scalars()
        return sum(amounts, Decimal(0)).scaleb(-2)


def percent(now: Decimal, then: Decimal) -> str:
    return f"{((now - then) / then * 100).quantize(Decimal('0.1'), ROUND_HALF_UP):+.1f} %"


def metric(at: AppTest, label: str) -> Any:
    [m] = [m for m in at.metric if m.label.startswith(label)]
    return m


def test_spend_total_shows_its_change_against_the_30_days_before(
    app: AppTest, engine: Engine, synced: Simulator
) -> None:
    app.switch_page(SPEND).run()
    assert not app.exception
    now, then = stored_spend(engine, START, END), stored_spend(engine, *BEFORE)
    total = metric(app, "Total")
    assert total.value == money(now)
    assert total.delta == percent(now, then)
    first, last = BEFORE[0], BEFORE[1] - timedelta(days=1)
    span = f"{first:%b} {first.day} – {last:%b} {last.day}"
    if first.year != last.year:
        span = f"{first:%b} {first.day}, {first.year} – {last:%b} {last.day}, {last.year}"
    assert total.proto.delta_description == f"vs {span} ({money(then)})"
    # More spend is a cost up: drawn as bad (red), less as good.
    assert total.proto.color == total.proto.MetricColor.Value("RED" if now > then else "GREEN")


def test_a_previous_period_without_data_says_so(
    app: AppTest, engine: Engine, synced: Simulator
) -> None:
    with read_session(engine) as session:
        first = min(session.execute(select(CostLine.date)).scalars())
    # The first ten imported days: nothing is stored before them.
    app.query_params["range"] = "custom"
    app.query_params["from"] = first.isoformat()
    app.query_params["to"] = (first + timedelta(days=9)).isoformat()
    app.switch_page(SPEND).run()
    assert not app.exception
    total = metric(app, "Total")
    assert total.value == money(stored_spend(engine, first, first + timedelta(days=10)))
    assert total.delta == "no data for the previous period"
    assert "inf" not in total.delta and "%" not in total.delta
    assert total.proto.direction == total.proto.MetricDirection.Value("NONE")


def test_month_to_date_compares_with_the_same_days_of_last_month(
    app: AppTest, engine: Engine, synced: Simulator
) -> None:
    app.run()
    assert not app.exception
    first = TODAY.replace(day=1)
    before = (first - timedelta(days=1)).replace(day=1)
    days = (TODAY - first).days + 1
    same_days_end = min(before + timedelta(days=days), first)
    now, then = stored_spend(engine, first, END), stored_spend(engine, before, same_days_end)
    mtd = metric(app, "Month to date")
    assert mtd.value == money(now)
    assert mtd.delta == percent(now, then)
    last_day = same_days_end - timedelta(days=1)
    same_days = f"{before:%b} 1" + (
        "" if last_day == before else f" – {last_day:%b} {last_day.day}"
    )
    assert mtd.proto.delta_description == f"vs {same_days}"
    # Last month against the month before it.
    before_last = (before - timedelta(days=1)).replace(day=1)
    last = metric(app, "Last month")
    last_total, earlier = (
        stored_spend(engine, before, first),
        stored_spend(engine, before_last, before),
    )
    assert last.delta == percent(last_total, earlier)
    assert last.proto.delta_description == f"vs {before_last:%B %Y}"
    # Today so far against the whole of yesterday.
    yesterday = TODAY - timedelta(days=1)
    so_far = metric(app, "Today so far")
    assert so_far.delta == percent(
        stored_spend(engine, TODAY, END), stored_spend(engine, yesterday, TODAY)
    )
    assert so_far.proto.delta_description == "vs yesterday"


def test_usage_figures_show_their_change_against_the_30_days_before(
    app: AppTest, engine: Engine, synced: Simulator
) -> None:
    app.switch_page(USAGE).run()
    assert not app.exception

    def tokens(start: date, end: date) -> dict[str, int]:
        with read_session(engine) as session:
            rows = session.execute(
                select(UsageBucket).where(UsageBucket.date >= start, UsageBucket.date < end)
            ).scalars()
            sums: dict[str, int] = defaultdict(int)
            for row in rows:
                for name in (*TOKENS, "web_search_requests"):
                    sums[name] += getattr(row, name)
            return sums

    now, then = tokens(START, END), tokens(*BEFORE)
    every_now, every_then = sum(now[t] for t in TOKENS), sum(then[t] for t in TOKENS)
    assert metric(app, "Tokens").delta == percent(Decimal(every_now), Decimal(every_then))
    out = metric(app, "Output tokens")
    assert out.delta == percent(Decimal(now["output_tokens"]), Decimal(then["output_tokens"]))

    def share(sums: dict[str, int]) -> Decimal:
        inputs = sum(sums[t] for t in TOKENS if t != "output_tokens")
        return Decimal(sums["cache_read_input_tokens"] / inputs)

    points = ((share(now) - share(then)) * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
    cache = metric(app, "Cache-read share")
    assert cache.delta == f"{points:+.1f} pp"
    # A higher cache-read share is good: green when it rises.
    if points:
        assert cache.proto.color == cache.proto.MetricColor.Value("GREEN" if points > 0 else "RED")


# --- Unit economics -------------------------------------------------------------------------


def expected_economics(engine: Engine) -> dict[str, dict[str, Decimal | None]]:
    """The unit economics by model name over the default 30 days, from the stored rows and
    the list prices above."""
    with read_session(engine) as session:
        cost = (
            session.execute(select(CostLine).where(CostLine.date >= START, CostLine.date < END))
            .scalars()
            .all()
        )
        usage = (
            session.execute(
                select(UsageBucket).where(UsageBucket.date >= START, UsageBucket.date < END)
            )
            .scalars()
            .all()
        )
    token_cents: dict[str, Decimal] = defaultdict(Decimal)
    batch_cents: dict[str, Decimal] = defaultdict(Decimal)
    billed: set[tuple[str, str | None]] = set()
    for c in cost:
        # Token costs: the Console's "tokens", an Enterprise organization's by model.
        if c.model is None or c.cost_type not in ("tokens", None):
            continue
        token_cents[NAMES[c.model]] += c.amount_cents
        if c.service_tier == "batch":
            batch_cents[NAMES[c.model]] += c.amount_cents
        billed.add((c.model, c.service_tier))
    tokens: dict[str, int] = defaultdict(int)
    savings: dict[str, Decimal] = defaultdict(Decimal)
    for u in usage:
        if u.model is None or (u.model, u.service_tier) not in billed:
            continue  # Priority Tier: not in the cost report
        name = NAMES[u.model]
        tokens[name] += sum(getattr(u, t) for t in TOKENS)
        if u.model not in INPUT_PRICE or u.service_tier not in ("standard", "batch", None):
            continue
        price, us = INPUT_PRICE[u.model]
        rate = Decimal(price)
        if u.context_window == "200k-1M" and u.model.startswith("claude-sonnet-4-5"):
            rate = Decimal(6)
        if u.service_tier == "batch":
            rate /= 2
        if us and u.inference_geo == "us":
            rate *= Decimal("1.1")
        # A read costs a tenth of the input price: nine tenths saved.
        savings[name] += u.cache_read_input_tokens * rate * Decimal("0.9") / 1_000_000
    return {
        name: {
            "token_spend_usd": cents.scaleb(-2),
            "usd_per_million_tokens": (cents.scaleb(-2) * 1_000_000 / tokens[name]).quantize(
                Decimal("0.0001")
            ),
            "cache_savings_usd": savings.get(name),
            "batch_savings_usd": batch_cents[name].scaleb(-2),
        }
        for name, cents in token_cents.items()
    }


def test_unit_economics_by_model_equal_the_rows_at_list_price(
    app: AppTest, engine: Engine, synced: Simulator, downloads: dict[str, bytes]
) -> None:
    app.switch_page(SPEND).run()
    assert not app.exception
    expected = expected_economics(engine)
    assert "Claude Sonnet 4.5" in expected and "claude-nimbus-7-preview" in expected
    shown = {r["Model"]: r for r in csv_rows(downloads["csv_unit_economics"])}
    assert set(shown) == set(expected)
    for name, figures in expected.items():
        row = shown[name]
        for column, value in figures.items():
            assert (Decimal(row[column]) if row[column] else None) == value, (name, column)
    # The table shows the same figures, to the cent.
    [table] = [d.value for d in app.dataframe if "cache_savings_usd" in d.value]
    table = table.set_index("Model")
    for name, figures in expected.items():
        for column in ("token_spend_usd", "cache_savings_usd", "batch_savings_usd"):
            value = figures[column]
            cell = table.loc[name, column]
            if value is None:
                assert cell is None or cell != cell  # empty, not $0
            else:
                assert Decimal(str(cell)).quantize(CENT) == value.quantize(CENT), (name, column)
    # The model without a list price is left out of cache savings, and said to be.
    said = "\n".join(c.value for c in app.caption)
    assert "1 model without a public list price: claude\\-nimbus\\-7\\-preview" in said
    assert "Priority tier" in said


# --- Claude Enterprise: spend per active user and idle seats ---------------------------------


def test_enterprise_spend_per_active_user_and_idle_seats(
    app: AppTest, engine: Engine, synced: Simulator, downloads: dict[str, bytes]
) -> None:
    app.switch_page(ENTERPRISE).run()
    assert not app.exception
    with read_session(engine) as session:
        [pk] = session.execute(
            select(Organization.id).where(Organization.provider == Provider.ENTERPRISE)
        ).scalars()
        spend = sum(
            session.execute(
                select(CostLine.amount_cents).where(
                    CostLine.organization_pk == pk, CostLine.date >= START, CostLine.date < END
                )
            ).scalars(),
            Decimal(0),
        ).scaleb(-2)
        days = (
            session.execute(
                select(EngagementDay)
                .where(EngagementDay.organization_pk == pk, EngagementDay.date >= START)
                .where(EngagementDay.date < END, EngagementDay.monthly_active_users.is_not(None))
                .order_by(EngagementDay.date)
            )
            .scalars()
            .all()
        )
    latest = days[-1]
    users, seats = latest.monthly_active_users, latest.assigned_seats
    assert users and seats
    assert metric(app, "Spend per active user").value == money((spend / users).quantize(CENT))
    assert metric(app, "Idle seats").value == f"{max(0, seats - users):,}"
    # By month: each month's spend over its latest snapshot's monthly active users.
    rows = csv_rows(downloads["csv_ent_seats"])
    assert sum(Decimal(r["amount_usd"]) for r in rows) == spend
    last = rows[-1] if rows[-1]["snapshot"] else rows[-2]
    assert last["snapshot"] == latest.date.isoformat()
    assert int(last["idle_seats"]) == max(0, seats - users)
    assert Decimal(last["usd_per_active_user"]) == (Decimal(last["amount_usd"]) / users).quantize(
        CENT
    )
