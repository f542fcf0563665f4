"""The FOCUS page: the month's file downloads, and its BilledCost equals the cost report."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.clock import today
from app.reports.filters import Filters
from app.reports.periods import month_start, next_month, usd
from app.reports.spend import total_cents
from app.services.users import create_first_admin
from app.settings import Settings
from app.simulator import Simulator
from tests.ui.apptest import ADMIN_EMAIL, MAIN, PASSWORD, signed_in, synced


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'finops.db'}"


@pytest.fixture
def app(engine: Engine) -> Iterator[AppTest]:
    st.cache_data.clear()
    admin = create_first_admin(engine, email=ADMIN_EMAIL, password=PASSWORD)
    yield signed_in(AppTest.from_file(MAIN, default_timeout=90), engine, admin)


def test_the_focus_page_downloads_the_month_and_says_it_adds_up(
    app: AppTest,
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINOPS_BACKFILL_MONTHS", "1")
    synced(sim, engine, Settings())
    seen: dict[str, bytes] = {}
    original = st.download_button

    def recording(label: str, data: Any, *args: Any, **kwargs: Any) -> Any:
        seen[label] = data
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    app.run()
    seen.clear()  # the Overview's own downloads
    app.switch_page("../pages/focus.py").run()
    assert not app.exception
    [(label, data)] = seen.items()
    assert "FOCUS 1.2" in label
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    first = month_start(today())
    billed = sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0))
    report = usd(total_cents(engine, Filters(first, next_month(first), include_demo=True)))
    assert rows and billed == report
    assert any("exactly the cost report" in s.value for s in app.success)
    seen.clear()
    app.radio[0].set_value("1.3").run()
    [(label, data)] = seen.items()
    assert "FOCUS 1.3" in label and b"ServiceProviderName" in data.splitlines()[0]
