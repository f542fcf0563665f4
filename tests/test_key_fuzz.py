"""Whatever is pasted into the key field: no crash, nothing stored, nothing logged."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from app.anthropic.errors import AnthropicError
from app.anthropic.keys import KeyFormatError
from app.db import read_session
from app.keystore import KeyStore
from app.models import Organization
from app.services.access import OPERATOR
from app.services.connections import connect
from app.settings import Settings
from app.simulator import Simulator

PREFIXES = ["", "sk-ant-", "sk-ant-admin01-", "sk-ant-api03-", "sk-ant-api01-", "sk-ant-oat01-"]


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the fuzz runs once, on SQLite; storage is covered on both elsewhere")


@given(prefix=st.sampled_from(PREFIXES), body=st.text(max_size=120))
@hyp_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_pasted_text_is_refused_cleanly(
    sqlite_only: None,
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    prefix: str,
    body: str,
) -> None:
    pasted = prefix + body
    caplog.clear()
    store = KeyStore.from_settings(settings)
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises((KeyFormatError, AnthropicError)) as caught,
    ):
        connect(pasted, engine=engine, settings=settings, keystore=store, actor=OPERATOR,
                transport=sim.transport())  # fmt: skip
    with read_session(engine) as session:
        assert session.execute(select(func.count()).select_from(Organization)).scalar_one() == 0
    secret = pasted.strip()[15:]
    if len(secret) >= 8:
        assert secret not in str(caught.value)
        assert secret not in caplog.text
