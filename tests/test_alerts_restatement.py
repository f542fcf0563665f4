"""Alerts that must not fire twice or silently: a threshold crossed by restated days fires
once and says so; two evaluations at the same moment (two workers) fire it once; Slack and
email deliveries carry the numbers; `finops forecast` gives each organization and the total."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import Engine, select

from app.anthropic.schemas import CostRow
from app.cli import main
from app.db import write_session
from app.finops import delivery
from app.finops.alerts import evaluate, list_alerts
from app.finops.budgets import import_budgets
from app.finops.channels import add_channel, generate_secret
from app.models import Organization
from app.runtime import keystore
from app.services.access import OPERATOR
from app.settings import Settings
from app.store import replace_days
from tests.test_budget_alerts import MONTH, month_to_date, pin, seed
from tests.test_channels_delivery import Receiver


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setattr(delivery, "sleep", lambda _s: None)
    r = Receiver(generate_secret())
    yield r
    r.close()


def restate(engine: Engine, start: date, end: date, usd_per_day: Decimal) -> None:
    """Replace Top 0's days [start, end) by one row of ``usd_per_day`` each (a new window)."""
    with write_session(engine) as session:
        pk = session.execute(
            select(Organization.id).where(Organization.organization_id == "org-budget-0")
        ).scalar_one()
        rows = [
            CostRow(
                day=start + timedelta(days=i),
                dims={
                    "workspace_id": None,
                    "description": "restated",
                    "cost_type": "tokens",
                    "model": "claude-sonnet-4-5-20250929",
                    "token_type": "output_tokens",
                    "service_tier": "standard",
                },
                amount_cents=usd_per_day * 100,
                currency="USD",
            )
            for i in range((end - start).days)
        ]
        replace_days(session, pk, "cost", start, end, rows)


def one_budget(engine: Engine, amount: Decimal, channels: str = "[ops-hook]") -> None:
    import_budgets(
        engine,
        f"budgets:\n  - name: Acme\n    scope: {{organization: Top 0}}\n"
        f"    amount_usd: {amount}\n    thresholds: [{{percent: 80, on: actual}}]\n"
        f"    channels: {channels}\n",
        actor=OPERATOR,
    )


def test_a_threshold_crossed_by_a_restatement_fires_once_saying_so(
    engine: Engine, settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = date(2026, 12, 10)
    pin(monkeypatch, today)
    seed(engine, today + timedelta(days=1))
    add_channel(
        engine,
        keystore(settings),
        actor=OPERATOR,
        name="ops-hook",
        type="webhook",
        url=receiver.url,
        secret=receiver.secret,
        events=("budget.threshold_crossed",),
    )
    actual = month_to_date(today)
    one_budget(engine, (actual / Decimal("0.75")).quantize(Decimal("1")))  # at 75 %
    assert evaluate(engine, settings) == []
    # The next sync's trailing window restates the last three complete days upward.
    restate(engine, today - timedelta(days=3), today, Decimal(3000))
    [fired] = evaluate(engine, settings)
    assert fired.alert.restatement is True
    assert evaluate(engine, settings) == []
    [listed] = [v.as_json() for v in list_alerts(engine)]
    assert listed["restatement"] is True
    body = json.loads(receiver.requests[-1]["body"])
    assert body["data"]["restatement"] is True and receiver.requests[-1]["verified"]


def test_two_evaluations_at_once_fire_a_threshold_once(
    engine: Engine, settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = date(2026, 12, 10)
    pin(monkeypatch, today)
    seed(engine, today + timedelta(days=1))
    add_channel(
        engine,
        keystore(settings),
        actor=OPERATOR,
        name="ops-hook",
        type="webhook",
        url=receiver.url,
        secret=receiver.secret,
        events=("budget.threshold_crossed",),
    )
    one_budget(engine, (month_to_date(today) / Decimal("0.9")).quantize(Decimal("1")))
    fired: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fired.extend(evaluate(engine, settings))
        except BaseException as exc:  # a failure must fail the test, not vanish in a thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(fired) == 1
    assert len(list_alerts(engine)) == 1
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"]


def test_slack_gets_a_readable_message_and_email_goes_through_smtp(
    engine: Engine, settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = date(2026, 12, 10)
    pin(monkeypatch, today)
    seed(engine, today + timedelta(days=1))
    sent: list[EmailMessage] = []

    class FakeSMTP:
        def __init__(self, host: str, port: int, timeout: float) -> None:
            assert (host, port) == ("smtp.example.com", 2525)

        def __enter__(self) -> FakeSMTP:
            return self

        def __exit__(self, *args: object) -> None:
            pass

        def starttls(self, **kwargs: object) -> None:
            pass

        def send_message(self, message: EmailMessage) -> None:
            sent.append(message)

    monkeypatch.setattr("smtplib.SMTP", FakeSMTP)
    settings = settings.model_copy(update={"smtp_host": "smtp.example.com", "smtp_port": 2525})
    store = keystore(settings)
    add_channel(engine, store, actor=OPERATOR, name="slack", type="slack", url=receiver.url)
    add_channel(
        engine,
        store,
        actor=OPERATOR,
        name="mail",
        type="email",
        addresses="finops@example.com, cfo@example.com",
    )
    one_budget(
        engine, (month_to_date(today) / Decimal("0.9")).quantize(Decimal("1")), "[slack, mail]"
    )
    [fired] = evaluate(engine, settings)
    assert {d.channel_name: d.status for d in fired.deliveries} == {
        "slack": "delivered",
        "mail": "delivered",
    }
    texts = [json.loads(r["body"])["text"] for r in receiver.requests]
    # The alert, and (these channels take every event) the weekly digest, both readable.
    assert len(texts) == 2 and any(t.startswith("Week of") for t in texts)
    [text] = [t for t in texts if t.startswith("Budget")]
    assert "Acme" in text and "80" in text and "$" in text
    assert len(sent) == 2
    [message] = [m for m in sent if "Acme" in m["Subject"]]
    assert {a.strip() for a in message["To"].split(",")} == {
        "finops@example.com",
        "cfo@example.com",
    }
    assert "Acme" in message["Subject"]
    assert "actual $" in message.get_content()


def test_finops_forecast_gives_each_organization_the_total_and_budgets(
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    today = date(2026, 12, 15)
    pin(monkeypatch, today)
    seed(engine, today + timedelta(days=1))
    one_budget(engine, Decimal(100), "[]")
    capsys.readouterr()
    assert main(["forecast", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["month_start"] == MONTH.isoformat()
    orgs = {o["organization_id"]: o for o in result["organizations"]}
    assert set(orgs) == {"org-budget-0", "org-budget-1"}
    for row in [*orgs.values(), result["total"]]:
        assert row["method"] == "ets"
        assert row["low_usd"] <= row["forecast_usd"] <= row["high_usd"]
        assert row["forecast_usd"] > row["actual_usd"]
    total_actual = sum(Decimal(str(o["actual_usd"])) for o in orgs.values())
    assert abs(Decimal(str(result["total"]["actual_usd"])) - total_actual) <= Decimal("0.02")
    [budget] = result["budgets"]
    assert budget["name"] == "Acme" and budget["exhausted_on"] == "2026-12-01"
    assert main(["forecast", "--org", "org-budget-1", "--json"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert [o["organization_id"] for o in only["organizations"]] == ["org-budget-1"]
    assert only["total"]["forecast_usd"] == only["organizations"][0]["forecast_usd"]
    assert main(["forecast", "--org", "nope"]) == 1
    assert main(["forecast"]) == 0
    assert "Total" in capsys.readouterr().out


def test_an_alert_whose_process_died_before_sending_is_delivered_by_the_next_evaluation(
    engine: Engine, settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = date(2026, 12, 10)
    pin(monkeypatch, today)
    seed(engine, today + timedelta(days=1))
    add_channel(
        engine,
        keystore(settings),
        actor=OPERATOR,
        name="ops-hook",
        type="webhook",
        url=receiver.url,
        secret=receiver.secret,
        events=("budget.threshold_crossed",),
    )
    one_budget(engine, (month_to_date(today) / Decimal("0.9")).quantize(Decimal("1")))
    with monkeypatch.context() as crash:
        crash.setattr(delivery, "attempt", lambda *_args: None)  # died after the commit
        [fired] = evaluate(engine, settings)
    assert [(d.status, d.attempts) for d in fired.deliveries] == [("pending", 0)]
    assert receiver.requests == []
    assert evaluate(engine, settings) == []  # not fired again, but its delivery is sent
    [listed] = [v.as_json() for v in list_alerts(engine)]
    assert [(d["status"], d["attempts"]) for d in listed["deliveries"]] == [("delivered", 1)]
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"]
