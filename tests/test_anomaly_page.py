"""The Anomalies page (issue 19) as a person meets it: the anomaly with its range, impact and
what drove it, a chart of its series, and an admin acknowledging it with a reason; a viewer
sees no triage form. Names from the API stay inert text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import streamlit as st
from sqlalchemy import Engine, update
from sqlmodel import col
from streamlit.testing.v1 import AppTest

from app.db import write_session
from app.finops import anomalies
from app.models import Workspace
from app.services.access import OPERATOR
from app.services.users import add_user, create_first_admin
from tests.test_anomaly_detect import SPIKE_PROD, TODAY, pin, seed
from tests.ui.apptest import MAIN, PASSWORD, signed_in

HOSTILE = "<b>Prod</b> **x** [y](http://e.invalid)"


@pytest.fixture
def database_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/data/finops.db"


@pytest.fixture
def found(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    st.cache_data.clear()
    world = seed(engine, spikes={SPIKE_PROD: {"wrkspc_prod": 3.0}})
    with write_session(engine) as session:
        session.execute(
            update(Workspace)
            .where(col(Workspace.workspace_id) == "wrkspc_prod")
            .values(name=HOSTILE)
        )
    pin(monkeypatch, TODAY)
    anomalies.detect(engine, None)
    (prod,) = [
        a
        for a in anomalies.list_anomalies(engine, start=SPIKE_PROD, end=TODAY)
        if a["value"]["id"] == "wrkspc_prod"
    ]
    assert world.pk
    yield int(prod["id"])


def page(engine: Engine, email: str, role: str) -> AppTest:
    account = (
        create_first_admin(engine, email=email, password=PASSWORD)
        if role == "admin"
        else add_user(engine, actor=OPERATOR, email=email, password=PASSWORD, role=role)
    )
    at = signed_in(AppTest.from_file(MAIN, default_timeout=60), engine, account)
    at.run()
    at = at.switch_page("../pages/anomalies.py").run()
    assert not at.exception, at.exception
    return at


def test_an_admin_acknowledges_an_anomaly_on_the_page(engine: Engine, found: int) -> None:
    at = page(engine, "admin@example.com", "admin")
    # The default range is the last 30 days: widen it to the spike's day.
    at.date_input[0].set_value((SPIKE_PROD, TODAY)).run()
    assert not at.exception
    frame = at.dataframe[0].value
    row = frame[frame["ID"] == found].iloc[0]
    assert row["Value"] == HOSTILE  # as text, never rendered
    assert row["Impact"] > 0 and row["Actual"] > row["Expected"]
    assert "Claude Sonnet 4.5" in row["What drove it"]
    assert "<b>" not in "".join(str(m.value) for m in at.markdown)
    at.selectbox[0].select(found).run()
    assert len(at.get("plotly_chart")) == 1
    at.text_input[0].input("known backfill job")
    at.radio[0].set_value("acknowledged")
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception
    (listed,) = anomalies.list_anomalies(engine, ids=[found])
    assert listed["status"] == "acknowledged"
    assert listed["reason"] == "known backfill job"


def test_a_viewer_sees_anomalies_but_cannot_triage(engine: Engine, found: int) -> None:
    create_first_admin(engine, email="admin@example.com", password=PASSWORD)
    at = page(engine, "ana@example.com", "viewer")
    at.date_input[0].set_value((SPIKE_PROD, TODAY)).run()
    assert found in set(at.dataframe[0].value["ID"])
    assert not [b for b in at.button if b.label == "Save"]
