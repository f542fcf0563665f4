"""Budgets and their alerts end to end, on stored cost rows with a weekly pattern: a budget at
90 % of the month's spend fires its 80 % threshold once across evaluations and a fresh process,
a forecast threshold fires before the actual one on a rising series, a bad file changes
nothing, an unchanged re-import never fires again, and each firing reaches its channel signed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.anthropic.schemas import CostRow
from app.cli import main
from app.db import write_session
from app.finops import delivery
from app.finops.alerts import evaluate, list_alerts
from app.finops.budgets import budget_statuses, import_budgets
from app.finops.channels import add_channel, generate_secret
from app.finops.forecast import clear_cache
from app.finops.rule_files import RuleFileError
from app.models import Workspace
from app.runtime import keystore
from app.services.access import OPERATOR
from app.settings import Settings
from app.store import replace_days
from tests.test_channels_delivery import Receiver
from tests.utils.factories import add_console_orgs

MONTH = date(2026, 12, 1)
HISTORY = date(2026, 9, 1)


def pin(monkeypatch: pytest.MonkeyPatch, day: date, hour: int = 12) -> None:
    moment = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    monkeypatch.setattr("app.clock.utcnow", lambda: moment)
    clear_cache()


def cents(day: date, growth: float = 0.0) -> Decimal:
    """Weekdays $1,000, weekends $300; with growth, more each day from the month's start."""
    base = 100_000 if day.weekday() < 5 else 30_000
    rise = 1 + growth * max(0, (day - MONTH).days)
    return Decimal(int(base * rise * (1 + 0.02 * ((day.toordinal() * 7) % 5 - 2))))


def seed(engine: Engine, end: date, *, growth: float = 0.0) -> int:
    """Two Console organizations: "Top 0" spends on two workspaces, "Top 1" a tenth of it.
    Days [HISTORY, end) through the sync's write path; the pk of the first."""
    with write_session(engine) as session:
        pks = add_console_orgs(session, "org-budget", 2, HISTORY)
        session.add(Workspace(organization_pk=pks[0], workspace_id="wrk_prod", name="Production"))
        session.flush()
        for n, pk in enumerate(pks):
            rows = []
            day = HISTORY
            while day < end:
                total = cents(day, growth) / (10 if n else 1)
                for workspace, share in (("wrk_prod", Decimal("0.75")), (None, Decimal("0.25"))):
                    rows.append(
                        CostRow(
                            day=day,
                            dims={
                                "workspace_id": workspace,
                                "description": "Claude Sonnet 4.5 Usage - Output Tokens",
                                "cost_type": "tokens",
                                "model": "claude-sonnet-4-5-20250929",
                                "token_type": "output_tokens",
                                "service_tier": "standard",
                            },
                            amount_cents=total * share,
                            currency="USD",
                        )
                    )
                day += timedelta(days=1)
            replace_days(session, pk, "cost", HISTORY, end, rows)
        return pks[0]


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setattr(delivery, "sleep", lambda _s: None)
    r = Receiver(generate_secret())
    yield r
    r.close()


def hook(engine: Engine, settings: Settings, r: Receiver) -> None:
    add_channel(
        engine,
        keystore(settings),
        actor=OPERATOR,
        name="ops-hook",
        type="webhook",
        url=r.url,
        secret=r.secret,
        events=("budget.threshold_crossed",),
    )


def month_to_date(today: date, growth: float = 0.0, share: Decimal = Decimal(1)) -> Decimal:
    """USD of Top 0 from the 1st through today (today whole: the rows of today are stored)."""
    days = [MONTH + timedelta(days=i) for i in range((today - MONTH).days + 1)]
    return sum((cents(d, growth) * share for d in days), Decimal(0)) / 100


def budget_file(amount: Decimal, *, scope: str = "{organization: [Top 0]}", extra: str = "") -> str:
    return f"""budgets:
  - name: Acme monthly
    scope: {scope}
    period: monthly
    amount_usd: {amount}
    thresholds:
      - {{percent: 80, on: actual}}
      - {{percent: 100, on: actual}}
    channels: [ops-hook]
{extra}"""


def test_a_budget_at_90_percent_fires_its_80_threshold_once_across_evaluations_and_processes(
    engine: Engine,
    settings: Settings,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    today = date(2026, 12, 20)
    pin(monkeypatch, today)
    seed(engine, today + timedelta(days=1))  # today's (partial) day is stored too
    hook(engine, settings, receiver)
    actual = month_to_date(today)
    amount = (actual / Decimal("0.9")).quantize(Decimal("1"))
    path = tmp_path / "budgets.yaml"
    path.write_text(budget_file(amount))
    assert main(["budgets", "import", str(path)]) == 0

    [status] = budget_statuses(engine)
    assert abs(status.actual_cents / 100 - actual) < Decimal("0.01")  # today included
    assert status.forecast.method == "ets"

    assert main(["alerts", "evaluate"]) == 0
    assert "Fired:" in capsys.readouterr().out
    # A second evaluation, a re-import of the same file, a fresh process: nothing more.
    assert main(["alerts", "evaluate"]) == 0
    assert main(["budgets", "import", str(path)]) == 0
    from app.runtime import dispose_engines

    dispose_engines()
    clear_cache()
    assert main(["alerts", "evaluate"]) == 0
    assert evaluate(engine, settings) == []
    capsys.readouterr()

    assert main(["alerts", "list", "--json"]) == 0
    [alert] = json.loads(capsys.readouterr().out)
    assert alert["type"] == "budget.threshold_crossed"
    assert (alert["budget"], alert["threshold_percent"], alert["on"]) == (
        "Acme monthly",
        80,
        "actual",
    )
    assert alert["period_start"] == "2026-12-01"
    assert abs(Decimal(str(alert["actual_usd"])) - actual) < Decimal("0.01")
    assert alert["forecast_usd"] > alert["actual_usd"]
    assert alert["fired_at"].startswith("2026-12-20T12:00")
    [sent] = alert["deliveries"]
    assert (sent["channel"], sent["status"], sent["attempts"]) == ("ops-hook", "delivered", 1)
    assert sent["last_status_code"] == 200 and sent["last_attempt_at"]
    # The receiver got it once, signed, with the alert's fields as its data.
    [request] = receiver.requests
    assert request["verified"]
    body = json.loads(request["body"])
    assert body["type"] == "budget.threshold_crossed"
    assert {k: body["data"][k] for k in ("budget", "threshold_percent", "on")} == {
        "budget": "Acme monthly",
        "threshold_percent": 80,
        "on": "actual",
    }

    # budgets list --json: the contract's fields for the current period.
    assert main(["budgets", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    for field in ("actual_usd", "forecast_usd", "forecast_low_usd", "forecast_high_usd"):
        assert isinstance(listed[field], float), field
    assert listed["forecast_low_usd"] <= listed["forecast_usd"] <= listed["forecast_high_usd"]
    assert listed["exhausted_on"] is not None and listed["exhausted_on"] > "2026-12-20"

    # The next month is a new period: its first crossing fires again.
    pin(monkeypatch, date(2027, 1, 29))
    seed_more(engine, date(2026, 12, 21), date(2027, 1, 30))
    fired = evaluate(engine, settings)
    assert {(v.alert.period_start, v.alert.threshold_percent) for v in fired} >= {
        (date(2027, 1, 1), Decimal(80))
    }


def seed_more(engine: Engine, start: date, end: date) -> None:
    """More days of Top 0 (replacing ``[start, end)``), as a later sync would."""
    from sqlalchemy import select

    from app.models import Organization

    with write_session(engine) as session:
        pk = session.execute(
            select(Organization.id).where(Organization.organization_id == "org-budget-0")
        ).scalar_one()
        rows = []
        day = start
        while day < end:
            rows.append(
                CostRow(
                    day=day,
                    dims={
                        "workspace_id": None,
                        "description": "x",
                        "cost_type": "tokens",
                        "model": "claude-sonnet-4-5-20250929",
                        "token_type": "output_tokens",
                        "service_tier": "standard",
                    },
                    amount_cents=cents(day),
                    currency="USD",
                )
            )
            day += timedelta(days=1)
        replace_days(session, pk, "cost", start, end, rows)


def test_a_forecast_threshold_fires_before_the_actual_one_on_a_rising_series(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    growth = 0.04
    seed(engine, date(2027, 1, 1), growth=growth)
    whole_month = month_to_date(date(2026, 12, 31), growth)
    text = f"""budgets:
  - name: Rising
    scope: {{}}
    amount_usd: {(whole_month * Decimal("0.95")).quantize(Decimal("1"))}
    thresholds:
      - {{percent: 100, on: forecast}}
      - {{percent: 80, on: actual}}
"""
    import_budgets(engine, text, actor=OPERATOR)
    first: dict[str, date] = {}
    day = date(2026, 12, 3)
    while day <= date(2026, 12, 31) and len(first) < 2:
        pin(monkeypatch, day)
        for view in evaluate(engine, settings, today=day):
            first.setdefault(view.alert.threshold_on, day)
        day += timedelta(days=1)
    assert set(first) == {"forecast", "actual"}
    assert first["forecast"] < first["actual"]
    assert len(list_alerts(engine)) == 2


def test_a_scope_by_workspace_name_and_the_default_workspace(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = date(2026, 12, 10)
    pin(monkeypatch, today)
    seed(engine, today + timedelta(days=1))
    import_budgets(
        engine,
        """budgets:
  - {name: Prod, scope: {workspace: Production}, amount_usd: 100000}
  - {name: Default, scope: {workspace: [Default workspace], organization: org-budget-0}, amount_usd: 100000}
  - {name: Haiku, scope: {model: "claude-haiku-*"}, amount_usd: 100}
""",
        actor=OPERATOR,
    )
    by_name = {s.spec.name: s for s in budget_statuses(engine)}
    total = month_to_date(today)
    assert abs(by_name["Prod"].actual_cents / 100 - total * Decimal("0.75")) < Decimal("0.01")
    assert abs(by_name["Default"].actual_cents / 100 - total * Decimal("0.25")) < Decimal("0.01")
    assert by_name["Haiku"].actual_cents == 0


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("budgets:\n  - name: A\n    amount_usd: 10\n    period: weekly\n", 4, "period"),
        (
            "budgets:\n  - name: A\n    amount_usd: 10\n    thresholds:\n      - {percent: 80, on: actuals}\n",
            5,
            "actual or forecast",
        ),
        (
            "budgets:\n  - name: A\n    amount_usd: 10\n    channels: [nowhere]\n",
            4,
            "does not exist",
        ),
        (
            "budgets:\n  - name: A\n    amount_usd: 10\n  - name: A\n    amount_usd: 20\n",
            4,
            "twice",
        ),
        (
            "budgets:\n  - name: A\n    amount_usd: 10\n    scope: {team: x}\n",
            4,
            "unknown scope key",
        ),
        ("budgets:\n  - name: A\n    amount_usd: -5\n", 3, "more than 0"),
        ("budgets:\n  - name: A\n    amount_usd: [10\n", 4, ""),
    ],
)
def test_a_bad_budget_file_is_refused_with_its_line_and_changes_nothing(
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    line: int,
    reason: str,
) -> None:
    import_budgets(engine, "budgets:\n  - {name: Kept, amount_usd: 5}\n", actor=OPERATOR)
    with pytest.raises(RuleFileError) as refused:
        import_budgets(engine, text, actor=OPERATOR)
    assert refused.value.line == line, str(refused.value)
    assert reason in str(refused.value)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["budgets", "import", str(path)]) == 1
    assert f"line {line}:" in capsys.readouterr().err
    assert [s.spec.name for s in budget_statuses(engine)] == ["Kept"]


def test_on_is_read_as_the_word_and_remove_forgets_a_budget(
    engine: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    import_budgets(
        engine,
        "budgets:\n  - name: Q\n    period: quarterly\n    amount_usd: 10\n"
        "    thresholds:\n      - percent: 50\n        on: forecast\n",
        actor=OPERATOR,
    )
    [status] = budget_statuses(engine)
    assert status.spec.thresholds[0].on == "forecast"
    assert (status.period_end - status.period_start).days in range(89, 93)
    assert main(["budgets", "remove", "Q"]) == 0
    assert main(["budgets", "remove", "Q"]) == 1
    assert budget_statuses(engine) == []


def test_the_after_sync_steps_evaluate_and_deliver(
    engine: Engine, settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.finops import AFTER_SYNC, after_sync

    today = date(2026, 12, 20)
    pin(monkeypatch, today)
    seed(engine, today + timedelta(days=1))
    hook(engine, settings, receiver)
    import_budgets(
        engine,
        budget_file((month_to_date(today) / Decimal("0.9")).quantize(Decimal("1"))),
        actor=OPERATOR,
    )
    assert "app.finops.alerts:evaluate" in AFTER_SYNC
    assert "app.finops.alerts:evaluate" not in after_sync(engine, settings)
    assert "app.finops.alerts:evaluate" not in after_sync(engine, settings)
    assert len(list_alerts(engine)) == 1
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"]
