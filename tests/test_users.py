"""Accounts and roles in the service layer: viewers are refused there, not only in the UI."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select, text

from app.db import read_session
from app.models import User
from app.services import users as users_service
from app.services.access import OPERATOR, Actor, PermissionDenied
from app.services.actions import request_sync
from app.services.audit import recent_events
from app.services.organizations import delete_organization, list_organizations
from app.services.users import (
    SetupDone,
    SignInError,
    add_user,
    create_first_admin,
    remove_user,
    set_role,
    sign_in,
)
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org
from tests.utils.processes import finops

PASSWORD = "correct horse battery"
VIEWER = Actor("viewer@example.com", "viewer")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users_service, "FAILURE_DELAY_SECONDS", 0)


def test_viewer_is_refused_by_every_admin_service(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    from app.keystore import KeyStore
    from app.services.connections import connect

    with pytest.raises(PermissionDenied):
        delete_organization(engine=engine, organization_id=org.id, actor=VIEWER)
    with pytest.raises(PermissionDenied):
        request_sync(engine=engine, organization_id=org.id, actor=VIEWER)
    with pytest.raises(PermissionDenied):
        connect(org.admin_key, engine=engine, settings=settings,
                keystore=KeyStore.from_settings(settings), actor=VIEWER, transport=sim.transport())  # fmt: skip
    with pytest.raises(PermissionDenied):
        add_user(engine, actor=VIEWER, email="x@example.com", password=PASSWORD, role="admin")
    assert [o.organization_id for o in list_organizations(engine)] == [org.id]  # untouched


def test_setup_cannot_be_replayed(engine: Engine) -> None:
    create_first_admin(engine, email="a@example.com", password=PASSWORD)
    with pytest.raises(SetupDone):
        create_first_admin(engine, email="mallory@example.com", password=PASSWORD)
    with read_session(engine) as session:
        assert session.execute(select(User.email)).scalars().all() == ["a@example.com"]


def test_passwords_are_salted_scrypt_hashes(engine: Engine) -> None:
    create_first_admin(engine, email="a@example.com", password=PASSWORD)
    add_user(engine, actor=OPERATOR, email="b@example.com", password=PASSWORD, role="viewer")
    with engine.connect() as conn:
        hashes = conn.execute(text("SELECT password_hash FROM app_user")).scalars().all()
    assert all(h.startswith("scrypt$") and PASSWORD not in h for h in hashes)
    assert len(set(hashes)) == 2  # same password, different salts


def test_repeated_failures_lock_the_account_for_a_while(engine: Engine) -> None:
    create_first_admin(engine, email="a@example.com", password=PASSWORD)
    for _ in range(5):
        with pytest.raises(SignInError, match="Wrong email or password"):
            sign_in(engine, email="a@example.com", password="guess-guess-guess")
    # Locked now: even the right password is refused until the lock expires.
    with pytest.raises(SignInError, match="Too many failed sign-ins"):
        sign_in(engine, email="a@example.com", password=PASSWORD)
    failures = [e for e in recent_events(engine) if e.action == "sign_in_failed"]
    assert len(failures) == 5


def test_last_admin_cannot_be_demoted_or_removed(engine: Engine) -> None:
    create_first_admin(engine, email="a@example.com", password=PASSWORD)
    with pytest.raises(ValueError, match="last admin"):
        set_role(engine, actor=OPERATOR, email="a@example.com", role="viewer")
    with pytest.raises(ValueError, match="last admin"):
        remove_user(engine, actor=OPERATOR, email="a@example.com")
    add_user(engine, actor=OPERATOR, email="b@example.com", password=PASSWORD, role="admin")
    set_role(engine, actor=OPERATOR, email="a@example.com", role="viewer")
    actions = [e.action for e in recent_events(engine)]
    assert "role_changed" in actions and "user_added" in actions


def test_cli_manages_users_and_never_takes_a_password_from_argv(
    engine: Engine, settings: Settings
) -> None:
    added = finops("users", "add", "ops@example.com", "--role", "admin",
                   env={"FINOPS_USER_PASSWORD": PASSWORD})  # fmt: skip
    assert added.returncode == 0, added.stderr
    piped = finops("users", "add", "view@example.com", stdin=PASSWORD + "\n")
    assert piped.returncode == 0, piped.stderr
    weak = finops("users", "add", "weak@example.com", stdin="short\n")
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr
    listed = json.loads(finops("users", "list", "--json").stdout)
    assert [(u["email"], u["role"]) for u in listed] == [
        ("ops@example.com", "admin"),
        ("view@example.com", "viewer"),
    ]
    assert finops("users", "set-role", "view@example.com", "admin").returncode == 0
    assert finops("users", "remove", "view@example.com").returncode == 0
    assert finops("users", "remove", "view@example.com").returncode == 1
    sign_in(engine, email="ops@example.com", password=PASSWORD)
