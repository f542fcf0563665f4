"""Changing one's password (the Account page for everyone, the Users page for admins) and the
filtered audit log, as a person meets them in the app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine, update
from sqlmodel import col
from streamlit.testing.v1 import AppTest

from app.clock import today, utcnow
from app.db import write_session
from app.models import AuditEvent
from app.services import users as users_service
from app.services.access import OPERATOR, Actor
from app.services.actions import request_sync
from app.services.audit import recent_events
from app.services.organizations import delete_organization
from app.services.users import (
    Account,
    SignInError,
    account_for_sso,
    account_for_token,
    add_user,
    create_first_admin,
    open_session,
    sign_in,
)
from app.settings import Settings
from app.simulator import Simulator
from tests.ui.apptest import MAIN
from tests.utils.factories import connect_org

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = str(ROOT / "pages" / "account.py")
OLD = "correct horse battery"
NEW = "purple rain over tallinn"
ADMIN, VIEWER = "admin@example.com", "ana@example.com"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users_service, "FAILURE_DELAY_SECONDS", 0)


@pytest.fixture
def people(settings: Settings, engine: Engine) -> Iterator[tuple[Account, Account]]:
    st.cache_data.clear()
    admin = create_first_admin(engine, email=ADMIN, password=OLD)
    viewer = add_user(engine, actor=OPERATOR, email=VIEWER, password=OLD, role="viewer")
    yield admin, viewer


def _as(engine: Engine, account: Account, script: str = MAIN) -> tuple[AppTest, str]:
    at = AppTest.from_file(script, default_timeout=60)
    token = open_session(engine, account, hours=1)
    at.session_state["auth_token"] = token
    return at, token


def _field(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(t for t in at.text_input if t.label.startswith(label))


def _change(at: AppTest, current: str, new: str, again: str) -> AppTest:
    _field(at, "Current password").input(current)
    _field(at, "New password (").input(new)
    _field(at, "New password again").input(again)
    next(b for b in at.button if b.label == "Change password").click().run()
    assert not at.exception
    return at


def _signs_in(engine: Engine, email: str, password: str) -> bool:
    try:
        sign_in(engine, email=email, password=password)
    except SignInError:
        return False
    return True


def test_a_viewer_changes_their_password_on_the_account_page(
    people: tuple[Account, Account], engine: Engine
) -> None:
    _admin, viewer = people
    laptop = open_session(engine, viewer, hours=1)
    at, here = _as(engine, viewer, ACCOUNT)
    at.run()
    assert [t.value for t in at.title] == ["Account"]

    _change(at, OLD, NEW, NEW + "!")
    assert any("differ" in e.value for e in at.error)
    _change(at, "not my password", NEW, NEW)
    assert any("current password is wrong" in e.value for e in at.error)
    _change(at, OLD, "password1234", "password1234")
    assert any("most common" in e.value for e in at.error)
    assert _signs_in(engine, VIEWER, OLD)  # nothing changed so far

    _change(at, OLD, NEW, NEW)
    assert not at.error
    assert any("you stay signed in here" in s.value for s in at.success)
    assert account_for_token(engine, here) is not None  # this browser stays signed in
    assert account_for_token(engine, laptop) is None  # the other one is signed out
    assert _signs_in(engine, VIEWER, NEW) and not _signs_in(engine, VIEWER, OLD)
    assert NEW not in str(at.main)
    changed = [e for e in recent_events(engine, actor=OPERATOR) if e.action == "password_changed"]
    assert [e.actor for e in changed] == [VIEWER]


def test_a_single_sign_on_account_is_sent_to_its_identity_provider(
    people: tuple[Account, Account], engine: Engine
) -> None:
    sso = account_for_sso(engine, "sso@example.com", "")
    at, _ = _as(engine, sso, ACCOUNT)
    at.run()
    assert not at.exception
    assert any("single sign-on" in i.value for i in at.info)
    assert not any(t.label == "Current password" for t in at.text_input)


def test_a_viewer_reaches_the_account_page_from_the_navigation(
    people: tuple[Account, Account], engine: Engine
) -> None:
    _admin, viewer = people
    at, _ = _as(engine, viewer)
    at.switch_page("../pages/account.py").run()
    assert [t.value for t in at.title] == ["Account"]


def test_an_admin_changes_their_password_and_sets_a_users_on_the_users_page(
    people: tuple[Account, Account], engine: Engine
) -> None:
    admin, viewer = people
    viewer_session = open_session(engine, viewer, hours=1)
    at, here = _as(engine, admin)
    at.switch_page("../pages/users.py").run()
    assert not at.exception
    _change(at, OLD, NEW, NEW)
    assert any("you stay signed in here" in s.value for s in at.success)
    assert account_for_token(engine, here) is not None
    assert _signs_in(engine, ADMIN, NEW)

    # A forgotten password: the admin sets a new one; the viewer is signed out everywhere.
    at.selectbox(key="users_password_of").select(VIEWER)
    password_fields = [t for t in at.text_input if t.label.startswith("New password")]
    password_fields[-2].input("another long passphrase")
    password_fields[-1].input("another long passphrase")
    next(b for b in at.button if b.label == "Set password").click().run()
    assert not at.exception
    assert any(
        f"Set a new password for {VIEWER}" in s.value.replace("\\", "").replace("\u2060", "")
        for s in at.success
    )
    assert account_for_token(engine, viewer_session) is None
    assert _signs_in(engine, VIEWER, "another long passphrase")


@pytest.fixture
def history(
    people: tuple[Account, Account], sim: Simulator, engine: Engine, settings: Settings
) -> str:
    """A connection, a "Sync now" by the admin, then the organization deleted."""
    acme = next(iter(sim.orgs.values()))
    connect_org(sim, acme, engine=engine, settings=settings, label="Acme (prod)")
    request_sync(engine=engine, organization_id=acme.id, actor=Actor(ADMIN, "admin"))
    delete_organization(engine=engine, organization_id=acme.id, actor=Actor(ADMIN, "admin"))
    with write_session(engine) as session:  # the admin was set up three days ago
        session.execute(
            update(AuditEvent)
            .where(col(AuditEvent.action) == "setup_first_admin")
            .values(at=utcnow() - timedelta(days=3))
        )
    return acme.id


def _rows(at: AppTest) -> list[dict[str, str]]:
    if not at.dataframe:
        return []
    return list(at.dataframe[0].value.astype(str).to_dict("records"))


def _audit_log(engine: Engine, admin: Account) -> AppTest:
    """The Audit log page as the admin opens it."""
    at, _ = _as(engine, admin)
    return at.switch_page("../pages/audit.py").run()


def test_the_audit_log_names_a_deleted_organization_and_shows_sync_now(
    people: tuple[Account, Account], history: str, engine: Engine
) -> None:
    at = _audit_log(engine, people[0])
    assert not at.exception
    about = {r["Action"]: r["Organization / user"] for r in _rows(at)}
    assert about["organization deleted"] == f"Acme (prod) ({history})"
    assert about["sync requested"] == f"Acme (prod) ({history})"
    assert [r["Who"] for r in _rows(at) if r["Action"] == "sync requested"] == [ADMIN]


def test_the_audit_log_filters_by_action_person_and_days(
    people: tuple[Account, Account], history: str, engine: Engine
) -> None:
    at = _audit_log(engine, people[0])
    everything = _rows(at)
    assert len(everything) >= 5

    at.multiselect(key="action").select("organization_deleted").select("sync_requested").run()
    assert sorted(r["Action"] for r in _rows(at)) == ["organization deleted", "sync requested"]
    at.multiselect(key="action").set_value([]).run()

    at.selectbox(key="who").select(ADMIN).run()
    assert {r["Who"] for r in _rows(at)} == {ADMIN}
    assert len(_rows(at)) == 3  # setup, sync now, delete (the others were the operator's)
    at.selectbox(key="who").select("Everyone").run()

    days_ago = [today() - timedelta(days=n) for n in range(4)]
    at.date_input(key="days").set_value((days_ago[3], days_ago[2])).run()
    assert [r["Action"] for r in _rows(at)] == ["setup first admin"]  # three days ago
    at.date_input(key="days").set_value((days_ago[1], days_ago[1])).run()
    assert not _rows(at) and any("No event matches" in i.value for i in at.info)
    at.date_input(key="days").set_value((days_ago[1], days_ago[0])).run()
    assert len(_rows(at)) == len(everything) - 1
    assert any("that match" in c.value for c in at.caption)


def test_a_link_to_the_audit_log_of_one_person_opens_filtered(
    people: tuple[Account, Account], history: str, engine: Engine
) -> None:
    admin, _viewer = people
    at, _ = _as(engine, admin)
    at.query_params["who"] = ADMIN  # /audit?who=admin@example.com
    at.switch_page("../pages/audit.py").run()
    assert not at.exception
    assert at.selectbox(key="who").value == ADMIN
    assert {r["Who"] for r in _rows(at)} == {ADMIN}
