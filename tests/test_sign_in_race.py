"""Sign-in throttling as a guesser meets it: parallel guesses, unknown addresses, the window.

The password check (scrypt) is counted with a wrapper: what matters is how many guesses get
checked at all, whatever order the threads run in.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from app.clock import utcnow
from app.services import users as users_service
from app.services.access import OPERATOR
from app.services.audit import recent_events
from app.services.users import SignInError, create_first_admin, sign_in

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
ADMIN = "admin@example.com"
PARALLEL = 40


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users_service, "FAILURE_DELAY_SECONDS", 0)


class Checks:
    """Every password check the sign-in makes: (password tried, stored hash it was checked with)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.during: Callable[[], None] | None = None  # run inside each check (lock probes)

    def __len__(self) -> int:
        return len(self.calls)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Checks:
    seen = Checks()
    real = users_service.verify_password

    def counted(password: str, stored: str) -> bool:
        with seen.lock:
            seen.calls.append((password, stored))
        if seen.during is not None:
            seen.during()
        return real(password, stored)

    monkeypatch.setattr(users_service, "verify_password", counted)
    return seen


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """A clock the test moves by hand (the product reads app.clock.utcnow)."""
    now = [utcnow()]
    monkeypatch.setattr(users_service, "utcnow", lambda: now[0])
    yield now


def _attempt(engine: Engine, email: str, password: str) -> str:
    """``signed in``, or the message shown, with the number of seconds replaced by N."""
    try:
        sign_in(engine, email=email, password=password)
    except SignInError as exc:
        return re.sub(r"in \d+ seconds", "in N seconds", str(exc))
    return "signed in"


def _in_parallel(engine: Engine, attempts: list[tuple[str, str]]) -> list[str]:
    """Run every (email, password) attempt in its own thread, all released at once."""
    results: list[str] = [""] * len(attempts)
    start = threading.Barrier(len(attempts))

    def run(i: int) -> None:
        start.wait()
        results[i] = _attempt(engine, *attempts[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(r for r in results), "an attempt did not finish"
    return results


WRONG_MESSAGE = "Wrong email or password."
LOCKED_MESSAGE = "Too many failed sign-ins. Try again in N seconds."


def test_forty_parallel_wrong_guesses_get_five_checks_and_then_the_right_one_is_refused(
    engine: Engine, checks: Checks
) -> None:
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    results = _in_parallel(engine, [(ADMIN, f"{WRONG} {i}") for i in range(PARALLEL - 1)])
    assert len(checks) <= users_service.FREE_ATTEMPTS
    assert set(results) == {WRONG_MESSAGE, LOCKED_MESSAGE}
    assert results.count(WRONG_MESSAGE) == len(checks)
    # The 40th guess is the right password: refused while the lock holds, and not even checked.
    before = len(checks)
    assert _attempt(engine, ADMIN, PASSWORD) == LOCKED_MESSAGE
    assert len(checks) == before


def test_the_right_password_among_forty_parallel_guesses_gets_no_extra_checks(
    engine: Engine, checks: Checks
) -> None:
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    attempts = [(ADMIN, f"{WRONG} {i}") for i in range(PARALLEL - 1)]
    attempts.insert(PARALLEL // 2, (ADMIN, PASSWORD))
    results = _in_parallel(engine, attempts)
    right = results[PARALLEL // 2]
    limit = users_service.FREE_ATTEMPTS
    if right == "signed in":
        # It was among the first five and cleared the count: five more may be checked after it.
        assert tuple(p for p, _ in checks.calls if p == PASSWORD) == (PASSWORD,)
        assert len(checks) <= 2 * limit
    else:
        assert right == LOCKED_MESSAGE
        assert len(checks) <= limit
        assert PASSWORD not in [p for p, _ in checks.calls]
    assert results.count(WRONG_MESSAGE) + (right == "signed in") == len(checks)


def test_the_password_check_holds_no_database_lock(
    engine: Engine, checks: Checks, database_url: str
) -> None:
    """The slow scrypt check runs outside any write transaction: on SQLite that lock would
    queue every other sign-in and the worker's writes behind each guess."""
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    blocked: list[str] = []

    def probe() -> None:
        if engine.dialect.name == "sqlite":
            path = database_url.removeprefix("sqlite:///")
            other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                blocked.append(str(exc))
            finally:
                other.close()
            return
        with engine.connect() as conn:
            try:
                for table in ("sign_in_throttle", "app_user"):
                    conn.execute(text(f"SELECT 1 FROM {table} FOR UPDATE NOWAIT")).all()
            except OperationalError as exc:
                blocked.append(str(exc.orig))
            conn.rollback()

    checks.during = probe
    assert _attempt(engine, ADMIN, WRONG) == WRONG_MESSAGE
    assert _attempt(engine, ADMIN, PASSWORD) == "signed in"
    assert len(checks) == 2 and blocked == []


def test_unknown_and_known_addresses_get_the_same_answers_and_the_same_work(
    engine: Engine, checks: Checks
) -> None:
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    answers = {}
    for email in (ADMIN, "nobody@example.com"):
        answers[email] = [_attempt(engine, email, WRONG) for _ in range(7)]
    assert (
        answers[ADMIN]
        == answers["nobody@example.com"]
        == [WRONG_MESSAGE] * 5 + [LOCKED_MESSAGE] * 2
    )
    known = [stored for _, stored in checks.calls[:5]]
    unknown = [stored for _, stored in checks.calls[5:]]
    assert len(known) == len(unknown) == 5  # both throttled after five checks
    # The unknown address is checked against a real scrypt hash with the same cost parameters.
    assert all(s.split("$")[:4] == known[0].split("$")[:4] for s in unknown)
    assert not any(s in known for s in unknown)


def test_failures_stop_counting_after_fifteen_minutes(
    engine: Engine, clock: list[datetime]
) -> None:
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    # A guesser who waits out every lock (as long as the message says) sees it double...
    waits = []
    for _ in range(9):
        waited = 0
        while (answer := _raw_attempt(engine, ADMIN, WRONG)) != WRONG_MESSAGE:
            seconds = int(
                re.fullmatch(
                    r"Too many failed sign-ins\. Try again in (\d+) seconds\.", answer
                ).group(1)
            )  # type: ignore[union-attr]
            clock[0] += timedelta(seconds=seconds)
            waited += seconds
        waits.append(waited)
    assert waits == [0, 0, 0, 0, 0, 30, 60, 120, 240]
    # ...and the admin is refused while it holds, even with the right password...
    assert _attempt(engine, ADMIN, PASSWORD) == LOCKED_MESSAGE
    # ...but fifteen minutes without a failure is always enough.
    clock[0] += timedelta(minutes=15)
    assert _attempt(engine, ADMIN, PASSWORD) == "signed in"


def _raw_attempt(engine: Engine, email: str, password: str) -> str:
    try:
        sign_in(engine, email=email, password=password)
    except SignInError as exc:
        return str(exc)
    return "signed in"


def test_one_wrong_try_every_fifteen_minutes_never_locks_the_admin_out(
    engine: Engine, clock: list[datetime]
) -> None:
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    for _ in range(16):  # four hours of a slow guesser
        assert _attempt(engine, ADMIN, WRONG) == WRONG_MESSAGE
        clock[0] += timedelta(minutes=15)
    clock[0] -= timedelta(minutes=14)  # one minute after the last wrong try
    assert _attempt(engine, ADMIN, PASSWORD) == "signed in"


def test_a_lockout_is_in_the_audit_log(engine: Engine) -> None:
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    for _ in range(6):
        _attempt(engine, ADMIN, WRONG)
    _attempt(engine, "nobody@example.com", WRONG)
    events = recent_events(engine, actor=OPERATOR)
    locked = [e for e in events if e.action == "sign_in_locked"]
    assert [(e.actor, e.target) for e in locked] == [(ADMIN, ADMIN)]
    assert locked[0].detail is not None and "30 seconds" in locked[0].detail
    assert len([e for e in events if e.action == "sign_in_failed"]) == 6
    assert any(e.action == "sign_in_refused" for e in events)
    assert all(WRONG not in (e.detail or "") for e in events)


def test_a_success_clears_the_count(engine: Engine) -> None:
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    for _ in range(4):
        assert _attempt(engine, ADMIN, WRONG) == WRONG_MESSAGE
    assert _attempt(engine, ADMIN, PASSWORD) == "signed in"
    for _ in range(4):  # four more free tries, not one
        assert _attempt(engine, ADMIN, WRONG) == WRONG_MESSAGE
    assert _attempt(engine, ADMIN, PASSWORD) == "signed in"
