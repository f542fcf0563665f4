"""Accounts and roles in the service layer: viewers are refused there, not only in the UI."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from app import cli
from app.db import make_engine, read_session
from app.models import User
from app.passwords import WeakPassword, check_strength
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
    list_users,
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
    from app.runtime import key_probe
    from app.services.connections import connect

    with pytest.raises(PermissionDenied):
        delete_organization(engine=engine, organization_id=org.id, actor=VIEWER)
    with pytest.raises(PermissionDenied):
        request_sync(engine=engine, organization_id=org.id, actor=VIEWER)
    with pytest.raises(PermissionDenied):
        connect(
            org.admin_key,
            engine=engine,
            settings=settings,
            keystore=KeyStore.from_settings(settings),
            actor=VIEWER,
            probe=key_probe(settings, transport=sim.transport()),
        )
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
    failures = [e for e in recent_events(engine, actor=OPERATOR) if e.action == "sign_in_failed"]
    assert len(failures) == 5


def test_last_admin_cannot_be_demoted_or_removed(engine: Engine) -> None:
    create_first_admin(engine, email="a@example.com", password=PASSWORD)
    with pytest.raises(ValueError, match="last admin"):
        set_role(engine, actor=OPERATOR, email="a@example.com", role="viewer")
    with pytest.raises(ValueError, match="last admin"):
        remove_user(engine, actor=OPERATOR, email="a@example.com")
    add_user(engine, actor=OPERATOR, email="b@example.com", password=PASSWORD, role="admin")
    set_role(engine, actor=OPERATOR, email="a@example.com", role="viewer")
    actions = [e.action for e in recent_events(engine, actor=OPERATOR)]
    assert "role_changed" in actions and "user_added" in actions


def test_cli_manages_users_and_never_takes_a_password_from_argv(
    engine: Engine, settings: Settings
) -> None:
    added = finops(
        "users", "add", "ops@example.com", "--role", "admin", env={"FINOPS_USER_PASSWORD": PASSWORD}
    )
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


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 12 characters"),
        ("password1234", "common"),
        ("Password2024!", "common"),
        ("letmein123456", "common"),
        ("123456789012", "sequence"),
        ("qwertyuiopas", "sequence"),
        ("zyxwvutsrqpo", "sequence"),
        ("qwertyuiop123", "sequence"),  # runs one after the other
        ("zaq12wsxcde3", "sequence"),
        ("abcdef123456", "sequence"),
        ("aaaaaaaaaaaa", "repeats"),
        ("abcabcabcabc", "repeats"),
        ("12121212121212", "repeats"),
        ("johnsmith2024!", "email address"),
        ("JohnSmith@Example.com", "email address"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword, match=reason):
        check_strength(password, email="johnsmith@example.com")


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "a long passphrase", "my password is purple rain", "Tr0ub4dor&3xk"],
)
def test_reasonable_passwords_are_accepted(password: str) -> None:
    check_strength(password, email="johnsmith@example.com")


def test_services_refuse_a_common_password(engine: Engine) -> None:
    with pytest.raises(WeakPassword, match="common"):
        create_first_admin(engine, email="a@example.com", password="password1234")
    create_first_admin(engine, email="a@example.com", password=PASSWORD)
    with pytest.raises(WeakPassword, match="email address"):
        add_user(
            engine,
            actor=OPERATOR,
            email="ana.lopez@example.com",
            password="ana.lopez-1234",
            role="viewer",
        )


def test_listing_users_is_for_admins(engine: Engine) -> None:
    create_first_admin(engine, email="a@example.com", password=PASSWORD)
    with pytest.raises(PermissionDenied):
        list_users(engine, actor=VIEWER)
    assert [a.email for a in list_users(engine, actor=OPERATOR)] == ["a@example.com"]


def test_serve_keeps_the_bootstrap_password_from_its_children(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`finops serve` creates the admin itself; the worker and Streamlit never see the password
    (a child's environment is readable in /proc and ends up in crash reports)."""
    monkeypatch.setenv("FINOPS_BOOTSTRAP_ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("FINOPS_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
    started: list[tuple[list[str], dict[str, str]]] = []

    class Child:
        """Stands in for the worker and Streamlit: records how it was started, then exits."""

        returncode = 0

        def __init__(self, argv: list[str], *, env: dict[str, str], **_kw: object) -> None:
            started.append((argv, env))

        def poll(self) -> int:
            return 0

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", Child)
    root = logging.getLogger()  # serve configures logging; leave the test run's as it was
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    assert cli.main(["serve"]) == 0
    assert len(started) == 2
    for _argv, env in started:
        assert "FINOPS_BOOTSTRAP_ADMIN_PASSWORD" not in env
        assert PASSWORD not in env.values()
        assert env["FINOPS_DATABASE_URL"] == settings.resolved_database_url
    engine = make_engine(settings.resolved_database_url)
    try:
        assert [a.email for a in list_users(engine, actor=OPERATOR)] == ["ops@example.com"]
    finally:
        engine.dispose()


def _printed_token(console: str) -> str:
    found = re.search(r"\n {4}([0-9a-f]{32})\n", console)
    assert found, console
    return found.group(1)


def test_setup_tokens_of_every_process_sharing_the_data_dir_work_until_setup(
    tmp_path: Path,
) -> None:
    """Replicas on one data directory each print a token; any of them opens setup (the browser
    may land on another replica than the console one reads), and setup retires them all."""
    console = io.StringIO()
    users_service.issue_setup_token(tmp_path, console)
    users_service.issue_setup_token(tmp_path, console)  # once per process
    mine = _printed_token(console.getvalue())
    assert console.getvalue().count(mine) == 1
    replica = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from app.services.users import "
            "issue_setup_token; issue_setup_token(pathlib.Path(sys.argv[1]))",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    theirs = _printed_token(replica.stderr)
    assert mine != theirs
    stored = (tmp_path / users_service.SETUP_TOKEN_FILE).read_text()
    assert mine not in stored and theirs not in stored  # digests only
    assert users_service.setup_token_matches(tmp_path, mine)
    assert users_service.setup_token_matches(tmp_path, theirs)
    for wrong in ("", "0" * 32, mine[:-1], stored.split()[0]):
        assert not users_service.setup_token_matches(tmp_path, wrong)
    users_service.retire_setup_tokens(tmp_path)
    assert not users_service.setup_token_matches(tmp_path, mine)
    assert not users_service.setup_token_matches(tmp_path, theirs)


def test_serve_explains_an_unusable_bootstrap_password_without_showing_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINOPS_BOOTSTRAP_ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("FINOPS_BOOTSTRAP_ADMIN_PASSWORD", "password1234")
    monkeypatch.setattr(cli.subprocess, "Popen", lambda *a, **k: pytest.fail("started a child"))
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    assert cli.main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "FINOPS_BOOTSTRAP_ADMIN_PASSWORD" in err and "most common" in err
    assert "password1234" not in err and "Traceback" not in err
