"""Changing a password: `finops users set-password` (an admin operation, the password never on
the command line) and the signed-in person's own change, throttled exactly like sign-in."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from app import cli
from app.services import users as users_service
from app.services.access import OPERATOR, Actor, PermissionDenied
from app.services.audit import recent_events
from app.services.users import (
    FREE_ATTEMPTS,
    PasswordChangeError,
    SignInError,
    account_for_sso,
    account_for_token,
    add_user,
    change_password,
    create_first_admin,
    open_session,
    set_password,
    sign_in,
)
from app.settings import Settings
from tests.utils.processes import finops

OLD = "correct horse battery"
NEW = "purple rain over tallinn"  # the canary: never in argv, output, logs or the audit log
VIEWER = "ana@example.com"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users_service, "FAILURE_DELAY_SECONDS", 0)


@pytest.fixture
def accounts(engine: Engine) -> Engine:
    create_first_admin(engine, email="admin@example.com", password=OLD)
    add_user(engine, actor=OPERATOR, email=VIEWER, password=OLD, role="viewer")
    return engine


def _signs_in(engine: Engine, email: str, password: str) -> bool:
    try:
        sign_in(engine, email=email, password=password)
    except SignInError:
        return False
    return True


def _nowhere(engine: Engine, *texts: str) -> None:
    """The new password is in none of ``texts`` and nowhere in the database in clear."""
    for blob in texts:
        assert NEW not in blob
    with engine.connect() as conn:
        for table in ("app_user", "audit_event", "auth_session", "sign_in_throttle"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert NEW not in str(tuple(row)), table


def test_cli_sets_a_password_from_stdin_and_signs_the_account_out_everywhere(
    accounts: Engine, settings: Settings, tmp_path: Path
) -> None:
    account = sign_in(accounts, email=VIEWER, password=OLD)
    tokens = [open_session(accounts, account, hours=1) for _ in range(2)]
    done = finops("users", "set-password", "Ana@Example.com", stdin=NEW + "\n")
    assert done.returncode == 0, done.stderr
    assert "Set a new password for ana@example.com; 2 of its session(s) were signed out." in (
        done.stdout
    )
    assert all(account_for_token(accounts, t) is None for t in tokens)
    assert _signs_in(accounts, VIEWER, NEW) and not _signs_in(accounts, VIEWER, OLD)
    [event] = [e for e in recent_events(accounts, actor=OPERATOR) if e.action == "password_set"]
    assert (event.actor, event.target) == (OPERATOR.email, VIEWER)
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    _nowhere(accounts, done.stdout, done.stderr, logs)


def test_cli_set_password_explains_unknown_accounts_and_weak_passwords(
    accounts: Engine, settings: Settings
) -> None:
    unknown = finops("users", "set-password", "nobody@example.com", stdin=NEW + "\n")
    assert unknown.returncode == 1
    assert "No account for nobody@example.com" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    weak = finops("users", "set-password", VIEWER, stdin="password1234\n")
    assert weak.returncode == 1 and "most common" in weak.stderr
    assert "password1234" not in weak.stdout + weak.stderr
    empty = finops("users", "set-password", VIEWER, stdin="")
    assert empty.returncode == 1 and "at least 12 characters" in empty.stderr
    assert _signs_in(accounts, VIEWER, OLD)  # nothing changed
    assert not any(e.action == "password_set" for e in recent_events(accounts, actor=OPERATOR))


def test_cli_set_password_never_takes_the_password_from_argv(
    accounts: Engine, settings: Settings
) -> None:
    given = finops("users", "set-password", VIEWER, NEW, stdin=NEW + "\n")
    assert given.returncode == 2
    assert "never taken from the command line" in given.stderr
    _nowhere(accounts, given.stdout, given.stderr)  # not even echoed back
    assert _signs_in(accounts, VIEWER, OLD)
    helped = finops("users", "set-password", "--help")
    assert helped.returncode == 0 and "PASSWORD" not in helped.stdout.split("options:")[0]


def test_cli_set_password_prompts_twice_on_a_terminal(
    accounts: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prompts: list[str] = []
    answers = iter([NEW, NEW + "x", NEW, NEW])

    def hidden(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(cli.sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(cli.getpass, "getpass", hidden)
    monkeypatch.delenv("FINOPS_USER_PASSWORD", raising=False)
    assert cli.main(["users", "set-password", VIEWER]) == 1  # the two differ
    assert "differ" in capsys.readouterr().err
    assert _signs_in(accounts, VIEWER, OLD)
    assert cli.main(["users", "set-password", VIEWER]) == 0
    assert prompts[:2] == ["New password: ", "New password again: "]
    out = capsys.readouterr()
    _nowhere(accounts, out.out, out.err)
    assert _signs_in(accounts, VIEWER, NEW)


def test_set_password_is_for_admins_and_not_for_single_sign_on_accounts(
    accounts: Engine,
) -> None:
    with pytest.raises(PermissionDenied):
        set_password(accounts, actor=Actor(VIEWER, "viewer"), email=VIEWER, password=NEW)
    account_for_sso(accounts, "sso@example.com", "")
    with pytest.raises(ValueError, match="single sign-on"):
        set_password(accounts, actor=OPERATOR, email="sso@example.com", password=NEW)
    assert not _signs_in(accounts, "sso@example.com", NEW)


def test_set_password_lifts_the_sign_in_lock(accounts: Engine) -> None:
    for _ in range(FREE_ATTEMPTS):
        assert not _signs_in(accounts, VIEWER, "a wrong guess here")
    with pytest.raises(SignInError, match="Too many"):
        sign_in(accounts, email=VIEWER, password=OLD)
    set_password(accounts, actor=OPERATOR, email=VIEWER, password=NEW)
    assert _signs_in(accounts, VIEWER, NEW)  # the forgotten-password case: in at once


def test_own_change_keeps_this_session_and_ends_the_others(accounts: Engine) -> None:
    account = sign_in(accounts, email=VIEWER, password=OLD)
    here, laptop, phone = (open_session(accounts, account, hours=1) for _ in range(3))
    ended = change_password(
        accounts, email=VIEWER, current_password=OLD, new_password=NEW, keep_token=here
    )
    assert ended == 2
    assert account_for_token(accounts, here) is not None
    assert (
        account_for_token(accounts, laptop) is None and account_for_token(accounts, phone) is None
    )
    assert _signs_in(accounts, VIEWER, NEW) and not _signs_in(accounts, VIEWER, OLD)
    [event] = [e for e in recent_events(accounts, actor=OPERATOR) if e.action == "password_changed"]
    assert (event.actor, event.target) == (VIEWER, VIEWER)
    _nowhere(accounts, str(event))


def test_own_change_refuses_a_wrong_current_or_a_weak_new_password(accounts: Engine) -> None:
    with pytest.raises(PasswordChangeError, match="current password is wrong"):
        change_password(accounts, email=VIEWER, current_password="not it at all", new_password=NEW)
    with pytest.raises(ValueError, match="most common"):
        change_password(accounts, email=VIEWER, current_password=OLD, new_password="password1234")
    with pytest.raises(PasswordChangeError, match="same as the current"):
        change_password(accounts, email=VIEWER, current_password=OLD, new_password=OLD)
    assert _signs_in(accounts, VIEWER, OLD)
    actions = [e.action for e in recent_events(accounts, actor=OPERATOR)]
    assert actions.count("password_change_failed") == 1


def test_wrong_current_passwords_share_the_sign_in_lock(accounts: Engine) -> None:
    """Guessing through the change form is no faster than at the sign-in form: both count in
    one row, so after five wrong tries (of either kind) both are refused, right password too."""
    for _ in range(FREE_ATTEMPTS - 2):
        assert not _signs_in(accounts, VIEWER, "a wrong guess here")
    for _ in range(2):
        with pytest.raises(PasswordChangeError, match="wrong"):
            change_password(
                accounts, email=VIEWER, current_password="another guess", new_password=NEW
            )
    with pytest.raises(PasswordChangeError, match="Too many"):
        change_password(accounts, email=VIEWER, current_password=OLD, new_password=NEW)
    with pytest.raises(SignInError, match="Too many"):
        sign_in(accounts, email=VIEWER, password=OLD)
    assert any(e.action == "sign_in_locked" for e in recent_events(accounts, actor=OPERATOR))


def test_parallel_wrong_current_passwords_get_no_more_checks_than_sign_in(
    accounts: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    lock = threading.Lock()
    real = users_service.verify_password

    def counted(password: str, stored: str) -> bool:
        with lock:
            checked.append(password)
        return real(password, stored)

    monkeypatch.setattr(users_service, "verify_password", counted)
    barrier = threading.Barrier(20)

    def guess(i: int) -> None:
        barrier.wait()
        with contextlib.suppress(PasswordChangeError):
            change_password(
                accounts, email=VIEWER, current_password=f"guess number {i}", new_password=NEW
            )

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checked) <= FREE_ATTEMPTS
    assert _signs_in(accounts, VIEWER, OLD) is False  # locked now, even with the right one
