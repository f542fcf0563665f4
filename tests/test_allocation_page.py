"""The Allocations page (AppTest): rules, spend per value with Unallocated, the per-key note,
the history, and the empty state. (AppTest cannot drive st.file_uploader: the import form's
refusals are the same ``RuleFileError`` the CLI tests read.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.finops.allocation import import_allocation, list_allocations
from app.services.users import create_first_admin
from tests.test_allocation_store import EXAMPLE, seed_orgs
from tests.ui.apptest import ADMIN_EMAIL, MAIN, PASSWORD, signed_in, texts

PAGE = "../pages/allocations.py"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'finops.db'}"


@pytest.fixture
def app(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    st.cache_data.clear()
    # The seeded days are "the last 30 days".
    monkeypatch.setattr("app.finops.allocation.utcnow", _pinned_now)
    admin = create_first_admin(engine, email=ADMIN_EMAIL, password=PASSWORD)
    yield signed_in(AppTest.from_file(MAIN, default_timeout=60), engine, admin)


def _pinned_now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2026, 10, 6, 12, tzinfo=UTC)


def test_the_page_shows_rules_and_spend_with_unallocated(app: AppTest, engine: Engine) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE + "  - value: Keys\n    match: {api_key: k}\n", actor="cli")
    at = app.switch_page(PAGE).run()
    assert not at.exception
    rules, spend, versions = (frame.value for frame in at.dataframe)
    assert list(rules["Line"]) == [4, 6, 9, 11]
    assert list(rules["Needs per-key cost"]) == ["", "", "", "yes"]
    assert set(spend["Value"]) == {"Search", "Support", "Unallocated"}
    assert "per-key billed cost" in texts(at)
    assert list(versions["Version"]) == [1]
    assert str(rules["From"][1]).startswith(str(date(2026, 10, 1)))


def test_without_allocations_the_page_says_how_to_add_one(app: AppTest, engine: Engine) -> None:
    at = app.switch_page(PAGE).run()
    assert not at.exception
    assert "No allocations yet" in texts(at)
    assert list_allocations(engine) == []
