"""The Budgets page (AppTest): a budget's actual, prorated line, forecast with its range and
when it runs out; the alert that fired with its delivery; the channel by its hint only, and
"Send test" delivering to a real receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.finops import delivery
from app.finops.alerts import evaluate
from app.finops.budgets import import_budgets
from app.finops.channels import add_channel, generate_secret
from app.runtime import keystore
from app.services.access import OPERATOR
from app.services.users import create_first_admin
from app.settings import Settings
from tests.test_budget_alerts import budget_file, month_to_date, pin, seed
from tests.test_channels_delivery import Receiver
from tests.ui.apptest import ADMIN_EMAIL, MAIN, PASSWORD, signed_in, texts


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'finops.db'}"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setattr(delivery, "sleep", lambda _s: None)
    r = Receiver(generate_secret())
    yield r
    r.close()


def test_the_budgets_page_shows_a_budget_its_alert_and_channel(
    engine: Engine, settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = date(2026, 12, 20)
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
    )
    amount = (month_to_date(today) / Decimal("0.9")).quantize(Decimal("1"))
    import_budgets(engine, budget_file(amount), actor=OPERATOR)
    assert len(evaluate(engine, settings)) == 1

    st.cache_data.clear()
    admin = create_first_admin(engine, email=ADMIN_EMAIL, password=PASSWORD)
    app = signed_in(AppTest.from_file(MAIN, default_timeout=60), engine, admin)
    app.switch_page("../pages/budgets.py").run()
    assert not app.exception
    shown = texts(app)
    assert "Acme monthly" in shown
    tiles = {m.label: m.value for m in app.metric}
    [actual] = [label for label in tiles if label.startswith("Actual of $")]
    assert tiles[actual] == f"${month_to_date(today):,.2f}"
    assert tiles["Runs out"].startswith("2026-12-")
    [progress] = app.get("progress")
    # The bar shows actual over the amount (Streamlit keeps a float's progress as a percent).
    expected = float(month_to_date(today) / amount)
    assert abs(progress.value - round(expected * 100)) <= 1, (progress.value, expected)
    frame = app.dataframe[0].value
    assert list(frame["Budget"]) == ["Acme monthly"]
    assert "ops-hook: delivered" in frame["Deliveries"][0]
    channel_text = " ".join(t.value for t in app.text)
    assert "whsec_…" + receiver.secret[-4:] in channel_text
    assert receiver.secret not in channel_text
    app.button(key="test-ops-hook").click().run()
    assert [s.value.replace("\\", "") for s in app.success] == ["Test delivered to ops-hook."]
    assert receiver.requests[-1]["verified"]
