"""The Overview's projected month end and budgets' forecasts are cached by the forecast engine (a
rerun with the same days fits nothing again), yet each database and each state of the data gets
its own figure: a cached forecast always equals a fresh forecast of the stored days, in this
process or another."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.anthropic.schemas import CostRow
from app.db import make_engine, migrate, write_session
from app.finops import forecast
from app.finops.budgets import BudgetSpec, month_forecast, scope_statuses
from app.finops.match import parse_match
from app.reports.projection import Projection
from app.reports.spend import spend_summary
from app.store import replace_days
from tests.utils.factories import add_console_orgs

START = date(2026, 8, 3)  # a Monday
TODAY = date(2026, 12, 16)  # mid-month: the projection has days left to forecast


def database(tmp_path: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / name}.db")
    migrate(engine)
    return engine


def write(engine: Engine, pk: int, start: date, end: date, usd_a_weekday: int) -> None:
    """Days ``[start, end)`` of one organization through the sync's write path: weekdays at
    ``usd_a_weekday``, weekends a third of it, a little variation by day."""
    rows = []
    for n in range((end - start).days):
        day = start + timedelta(days=n)
        usd = usd_a_weekday if day.weekday() < 5 else usd_a_weekday // 3
        cents = Decimal(usd * 100 + (day.toordinal() * 37) % 900)
        dims = {"workspace_id": None, "description": "Sonnet output", "cost_type": "tokens"}
        rows.append(CostRow(day, dims, cents, "USD"))  # type: ignore[arg-type]
    with write_session(engine) as session:
        replace_days(session, pk, "cost", start, end, rows)


def seeded(tmp_path: Path, name: str, usd_a_weekday: int) -> tuple[Engine, int]:
    engine = database(tmp_path, name)
    with write_session(engine) as session:
        [pk] = add_console_orgs(session, f"org-{name}", 1, START)
    write(engine, pk, START, TODAY + timedelta(days=1), usd_a_weekday)
    return engine, pk


def fresh(engine: Engine) -> Projection | None:
    """The projection with the forecast engine's caches emptied first."""
    forecast.clear_cache()
    return spend_summary(engine, TODAY).projection


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per ETS forecast the engine computes (a cached answer adds none)."""
    forecast.clear_cache()
    calls: list[int] = []
    real = forecast._ets

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(forecast, "_ets", counted)
    return calls


def test_two_databases_each_get_their_own_projection(tmp_path: Path, fits: list[int]) -> None:
    small, _ = seeded(tmp_path, "small", 1_000)
    large, _ = seeded(tmp_path, "large", 3_000)
    a = spend_summary(small, TODAY).projection
    b = spend_summary(large, TODAY).projection
    assert a is not None and b is not None and a.method == b.method == "ets"
    assert b.expected > 2 * a.expected  # not the first database's figure again
    assert (a, b) == (fresh(small), fresh(large))


def test_a_rerun_fits_nothing_again_and_a_restated_day_is_forecast_anew(
    tmp_path: Path, fits: list[int]
) -> None:
    engine, pk = seeded(tmp_path, "org", 1_000)
    first = spend_summary(engine, TODAY).projection
    assert len(fits) == 1
    assert spend_summary(engine, TODAY).projection == first
    assert len(fits) == 1  # answered from the cache
    write(engine, pk, TODAY - timedelta(days=3), TODAY, 9_000)  # three days restated upward
    restated = spend_summary(engine, TODAY).projection
    assert first is not None and restated is not None
    assert restated.expected > first.expected
    assert restated == fresh(engine)


def test_a_budget_after_a_restatement_agrees_with_finops_forecast_and_a_new_process(
    tmp_path: Path, fits: list[int]
) -> None:
    """The worker and the Budgets page evaluate a budget again after each sync; once the
    trailing days were restated, its forecast is the one `finops forecast` (its own process,
    nothing cached) and a fresh forecast of the same stored days give, to the cent."""
    engine, pk = seeded(tmp_path, "org", 1_000)
    scope = parse_match({"organization": ["org-org-0"]}, 1)
    spec = BudgetSpec("Org", scope, "monthly", Decimal(50_000), (), ())
    [before] = scope_statuses(engine, [spec], today=TODAY)
    write(engine, pk, TODAY - timedelta(days=3), TODAY, 9_000)  # three days restated upward
    [after] = scope_statuses(engine, [spec], today=TODAY)
    assert after.forecast.method == "ets" and len(fits) == 2
    assert after.forecast.expected_cents > before.forecast.expected_cents
    cli = month_forecast(engine, today=TODAY)["organizations"][0]
    forecast.clear_cache()  # as a new process (the CLI, the other of worker and dashboard)
    [anew] = scope_statuses(engine, [spec], today=TODAY)
    assert after.forecast == anew.forecast
    assert Decimal(str(cli["forecast_usd"])) == (after.forecast.expected_cents / 100).quantize(
        Decimal("0.01")
    )
