"""The Allocations page (AppTest): rules, spend per value with Unallocated, the per-key note,
the history, and the empty state. (AppTest cannot drive st.file_uploader: the import form's
refusals are the same ``RuleFileError`` the CLI tests read.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.finops.allocation import (
    allocation_specs,
    import_allocation,
    list_allocations,
    spend_by_value,
)
from app.services.access import OPERATOR
from app.services.users import add_user, create_first_admin, open_session
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
    monkeypatch.setattr("app.finops.allocation_preview.utcnow", _pinned_now)
    admin = create_first_admin(engine, email=ADMIN_EMAIL, password=PASSWORD)
    yield signed_in(AppTest.from_file(MAIN, default_timeout=60), engine, admin)


def _pinned_now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2026, 10, 6, 12, tzinfo=UTC)


def as_viewer(at: AppTest, engine: Engine) -> AppTest:
    viewer = add_user(
        engine, actor=OPERATOR, email="viewer@example.com", password=PASSWORD, role="viewer"
    )
    at.session_state["auth_token"] = open_session(engine, viewer, hours=1)
    return at


def test_the_page_shows_rules_and_spend_with_unallocated(app: AppTest, engine: Engine) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE + "  - value: Keys\n    match: {api_key: k}\n", actor="cli")
    at = as_viewer(app, engine).switch_page(PAGE).run()
    assert not at.exception
    rules, spend, versions = (frame.value for frame in at.dataframe)
    assert list(rules["Line"]) == [4, 6, 9, 11]
    assert list(rules["By per-key cost"]) == ["", "", "", "yes"]
    assert set(spend["Value"]) == {"Search", "Support", "Unallocated"}
    assert "per-key billed cost" in texts(at)
    assert list(versions["Version"]) == [1]
    assert str(rules["From"][1]).startswith(str(date(2026, 10, 1)))


def test_without_allocations_the_page_says_how_to_add_one(app: AppTest, engine: Engine) -> None:
    at = app.switch_page(PAGE).run()
    assert not at.exception
    assert "No allocations yet" in texts(at)
    assert list_allocations(engine) == []


def test_an_admin_edits_the_rules_with_a_preview_and_saves_a_version(
    app: AppTest, engine: Engine
) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    at = app.switch_page(PAGE).run()
    assert not at.exception
    [(allocation, _)] = allocation_specs(engine)
    key = f"allocation_{allocation.id}_1_"
    frames = [frame.value for frame in at.dataframe]
    editor, shown = frames[1], frames[2]
    assert list(editor["Allocates to"]) == ["Search", "Support", "Search 60, Support 40"]
    # The preview: each rule's spend and the default's, adding up to what is stored.
    stored = dict(spend_by_value(engine, "Team", days=30))
    assert list(shown["Rule"]) == ["1", "2", "3", "default"]
    total = sum(Decimal(str(v)) for v in shown["Spend (USD)"])
    assert abs(total - sum(stored.values()).scaleb(-2)) < Decimal("0.01")
    assert float(shown["Spend (USD)"].iloc[-1]) == pytest.approx(
        float(stored["Unallocated"] / 100), abs=0.005
    )
    # Nothing changed yet: Save is disabled.
    assert at.button(key=key + "save").disabled
    at.text_input(key=key + "default").input("Shared").run()
    assert not at.exception
    assert "Saving allocates every day again." in texts(at)
    at.button(key=key + "save").click().run()
    assert not at.exception
    assert "Team saved as version 2" in texts(at)
    [(allocation, spec)] = allocation_specs(engine)
    assert (allocation.version, spec.default) == (2, "Shared")
    versions = at.dataframe[-1].value
    assert list(versions["What changed"]) == [
        "default Unallocated → Shared",
        "created with 3 rules",
    ]
    assert list(versions["Who"]) == [ADMIN_EMAIL, "cli"]


def test_an_admin_creates_an_allocation_and_a_taken_name_is_refused(
    app: AppTest, engine: Engine
) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    at = app.switch_page(PAGE).run()
    at.text_input(key="allocation_new_name").input("Team").run()
    assert "An allocation named Team exists already" in texts(at)
    assert not [b for b in at.button if b.key == "allocation_new_save"]
    at.text_input(key="allocation_new_name").input("Environment").run()
    at.text_input(key="allocation_new_default").input("Production").run()
    at.button(key="allocation_new_save").click().run()
    assert not at.exception
    assert "Environment saved as version 1" in texts(at)
    names = {a.name: spec.default for a, spec in allocation_specs(engine)}
    assert names == {"Environment": "Production", "Team": "Unallocated"}
