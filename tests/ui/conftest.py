"""Fixtures of the AppTest page tests: the app signed in as an admin, the bytes of its
downloads, and the stored rows of the Claude Code and Claude Enterprise pages. Plain helpers
are in tests/ui/apptest.py and tests/ui/records.py.

Page tests run on SQLite: a page reads through app/reports, whose every query has its Postgres
leg in tests/test_*.py (top_detail, rollups, bench_duck, filter_options, export…), and the
Postgres leg of ~90 page tests took 9 of make test's minutes. Page tests whose own subject is
SQL the report tests do not cover (the demo condition, comparisons and unit economics) define
``database_url`` over DATABASES again and keep both legs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.services.users import create_first_admin
from app.settings import Settings
from tests.ui.apptest import ADMIN_EMAIL, MAIN, PASSWORD, signed_in
from tests.ui.records import add_code_rows, add_enterprise_rows


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'finops.db'}"


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[AppTest]:
    """The app, signed in as an admin, with nothing cached from another test's database."""
    # Cached figures live for the process; each test has a new database behind the same URL.
    st.cache_data.clear()
    admin = create_first_admin(engine, email=ADMIN_EMAIL, password=PASSWORD)
    yield signed_in(AppTest.from_file(MAIN, default_timeout=60), engine, admin)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The exact bytes every download button of the last run was given, by widget key (a
    callable, which Streamlit calls on the click, called here as the click would)."""
    seen: dict[str, bytes] = {}
    original = st.download_button

    def recording(label: str, data: Any, *args: Any, **kwargs: Any) -> Any:
        given = data() if callable(data) else data
        seen[str(kwargs.get("key"))] = given if isinstance(given, bytes) else str(given).encode()
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return seen


@pytest.fixture
def code_rows(engine: Engine) -> dict[str, Any]:
    """tests.ui.records.add_code_rows: Claude Code records of two Console organizations."""
    return add_code_rows(engine)


@pytest.fixture
def enterprise_rows(engine: Engine) -> dict[str, Any]:
    """tests.ui.records.add_enterprise_rows: a Claude Enterprise organization's records."""
    return add_enterprise_rows(engine)
