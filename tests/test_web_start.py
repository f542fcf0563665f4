"""The dashboard's server process (``python -m app.web``, what ``finops serve`` starts) begins
the slow starts before the first visitor: the columnar copy of the cost and usage rows and the
forecast engine's import. A setting it cannot use leaves them to the first page (which says what
is wrong) and does not stop the server."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
from sqlalchemy import Engine

from app import columnar, web
from app.finops import forecast
from app.runtime import get_engine
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, sync_engine


def test_the_copy_is_loaded_before_any_page_opens(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = Simulator(history_days=20)
    org = sim.add_org(name="Acme Corp", seed=11)
    db: Engine = get_engine(settings)
    connect_org(sim, org, engine=db, settings=settings)
    assert sync_engine(sim, db, settings).run(org_pk(db, org.id)).outcome == "ok"
    monkeypatch.setattr(forecast, "_warmed", False)
    assert columnar.detail_engine(db) is db  # nothing attached yet: no page has run

    web.start_early()

    assert forecast._warmed  # statsmodels' import has begun
    deadline = time.monotonic() + 60
    while columnar.detail_engine(db) is db:
        assert time.monotonic() < deadline, "the copy was not loaded"
        time.sleep(0.05)
    assert str(columnar.detail_engine(db).url).startswith("duckdb")


def test_a_setting_it_cannot_use_leaves_the_start_to_the_page(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FINOPS_COLUMNAR_COPY", "sometimes")
    with caplog.at_level(logging.WARNING, logger="app.web"):
        web.start_early()  # does not raise: the server still starts
    assert "dashboard warm-up skipped (SettingsError)" in caplog.text


def test_it_runs_streamlit_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "app.web", "version"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "FINOPS_COLUMNAR_COPY": "false"},
    )
    assert out.returncode == 0, out.stderr
    assert "Streamlit, version" in out.stdout
