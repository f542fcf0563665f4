"""Local accounts: first-run setup, sign-in with slow-down, and admin management of users."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import math
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from app.clock import utcnow
from app.db import affected_rows, is_sqlite, read_session, write_session
from app.models import AuditEvent, AuthSession, Role, SignInThrottle, User
from app.passwords import WeakPassword, check_strength, hash_password, verify_password
from app.services.access import Actor, PermissionDenied, require_admin
from app.services.audit import record

FREE_ATTEMPTS = 5  # failed sign-ins per email address in the window before a lock
WINDOW = timedelta(minutes=15)  # failures older than this no longer count
FIRST_LOCK = timedelta(seconds=30)  # the lock after FREE_ATTEMPTS failures, doubling after
MAX_LOCK = timedelta(minutes=15)
FAILURE_DELAY_SECONDS = 0.5  # every failed attempt costs the guesser this much, at least
WRONG = "Wrong email or password."


class SignInError(Exception):
    """Sign-in refused; the message is safe to show (it never says which part was wrong)."""


class SetupDone(Exception):
    """The first administrator exists already; setup cannot be replayed."""


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str | None
    role: str
    created_at: datetime
    last_sign_in_at: datetime | None

    @property
    def actor(self) -> Actor:
        return Actor(self.email, self.role)


def _account(user: User) -> Account:
    assert user.id is not None
    return Account(user.id, user.email, user.name, user.role, user.created_at, user.last_sign_in_at)


def _normal(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise ValueError("Enter a valid email address.")
    return email


def user_count(engine: Engine) -> int:
    with read_session(engine) as session:
        return int(session.execute(select(func.count()).select_from(User)).scalar_one())


def create_first_admin(
    engine: Engine, *, email: str, password: str, name: str | None = None
) -> Account:
    """First-run setup. Refused once any user exists, so it cannot be replayed."""
    email = _normal(email)
    check_strength(password, email=email)
    with write_session(engine) as session:
        # Checked inside the write transaction: two setup forms racing create one admin.
        if session.execute(select(func.count()).select_from(User)).scalar_one():
            raise SetupDone("An administrator already exists; sign in instead.")
        user = _new_user(session, email=email, password=password, role=Role.ADMIN, name=name)
        record(session, actor=email, action="setup_first_admin", target=email)
        return _account(user)


def _new_user(session: Session, *, email: str, password: str, role: str, name: str | None) -> User:
    user = User(
        email=email,
        name=(name or "").strip() or None,
        role=role,
        password_hash=hash_password(password),
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def add_user(
    engine: Engine, *, actor: Actor, email: str, password: str, role: str, name: str | None = None
) -> Account:
    require_admin(actor, "add users")
    if role not in Role.ALL:
        raise ValueError(f"Role must be one of: {', '.join(Role.ALL)}.")
    email = _normal(email)
    check_strength(password, email=email)
    with write_session(engine) as session:
        if session.execute(select(User).where(col(User.email) == email)).scalar_one_or_none():
            raise ValueError(f"{email} already has an account.")
        user = _new_user(session, email=email, password=password, role=role, name=name)
        record(session, actor=actor.email, action="user_added", target=email, detail=f"role {role}")
        return _account(user)


def list_users(engine: Engine, *, actor: Actor) -> list[Account]:
    """Every account, by email; for admins only (checked here, not only by the page)."""
    require_admin(actor, "list users")
    with read_session(engine) as session:
        return [
            _account(u) for u in session.execute(select(User).order_by(col(User.email))).scalars()
        ]


def _admins(session: Session) -> int:
    query = select(func.count()).select_from(User).where(col(User.role) == Role.ADMIN)
    return int(session.execute(query).scalar_one())


def set_role(engine: Engine, *, actor: Actor, email: str, role: str) -> None:
    require_admin(actor, "change roles")
    if role not in Role.ALL:
        raise ValueError(f"Role must be one of: {', '.join(Role.ALL)}.")
    with write_session(engine) as session:
        user = session.execute(
            select(User).where(col(User.email) == _normal(email))
        ).scalar_one_or_none()
        if user is None:
            raise ValueError(f"No account for {email}.")
        if user.role == Role.ADMIN and role != Role.ADMIN and _admins(session) <= 1:
            raise ValueError("This is the last admin; make someone else admin first.")
        old, user.role = user.role, role
        record(
            session,
            actor=actor.email,
            action="role_changed",
            target=user.email,
            detail=f"{old} -> {role}",
        )


def remove_user(engine: Engine, *, actor: Actor, email: str) -> bool:
    require_admin(actor, "remove users")
    with write_session(engine) as session:
        user = session.execute(
            select(User).where(col(User.email) == _normal(email))
        ).scalar_one_or_none()
        if user is None:
            return False
        if user.role == Role.ADMIN and _admins(session) <= 1:
            raise ValueError("This is the last admin; make someone else admin first.")
        session.delete(user)
        record(session, actor=actor.email, action="user_removed", target=user.email)
        return True


@dataclass(frozen=True)
class _Attempt:
    """A password check reserved for one sign-in attempt (or refused by the lock)."""

    locked_for: int  # seconds still to wait when refused (no check reserved), else 0
    failures: int  # failures in the window, counting this attempt should its check fail
    lock_on_failure: timedelta | None  # the lock this attempt already set, kept if it fails
    user_id: int | None
    password_hash: str | None


@functools.cache
def _dummy_hash() -> str:
    """A scrypt hash no password matches, computed once per process: an unknown address costs
    the same check as a known one, so neither the answer nor its timing says which it was."""
    return hash_password(secrets.token_urlsafe(32))


def _lock_after(failures: int) -> timedelta | None:
    """How long sign-in stays refused after ``failures`` in the window: 30 s after the fifth,
    doubling with each further one, at most 15 minutes."""
    extra = failures - FREE_ATTEMPTS
    if extra < 0:
        return None
    factor: int = 2 ** min(extra, 16)  # int ** int is typed Any (a negative power is a float)
    return min(MAX_LOCK, FIRST_LOCK * factor)


def _reserve(engine: Engine, email: str, now: datetime) -> _Attempt:
    """Count this attempt for ``email`` before its password is checked, in one short write
    transaction: the row is locked (``FOR UPDATE`` on Postgres; SQLite's write lock), so 40
    parallel guesses get at most FREE_ATTEMPTS checks between them. The attempt that reaches
    the limit sets the lock at once, before its own check, so no parallel guess slips in."""
    insert = sqlite_insert if is_sqlite(engine) else postgres_insert
    with write_session(engine) as session:
        row = None
        while row is None:  # the row may vanish between the two statements (a success)
            session.execute(
                insert(SignInThrottle)
                .values(email=email, failures=0, window_started_at=now)
                .on_conflict_do_nothing(index_elements=["email"])
            )
            row = session.execute(
                select(SignInThrottle).where(col(SignInThrottle.email) == email).with_for_update()
            ).scalar_one_or_none()
        if row.locked_until is not None and row.locked_until > now:
            wait = math.ceil((row.locked_until - now).total_seconds())
            if not _refusal_recorded(session, email, since=row.last_failure_at):
                # Once per lock: refused attempts cost nothing to send, and an audit row for
                # each would push the real events out of the Audit log page.
                record(
                    session,
                    actor=email,
                    action="sign_in_refused",
                    detail="locked after repeated failed sign-ins",
                )
            return _Attempt(wait, row.failures, None, None, None)
        quiet_since = max(
            row.last_failure_at or row.window_started_at, row.locked_until or row.window_started_at
        )
        if now - quiet_since >= WINDOW:
            # A window with no attempt and no lock: earlier failures no longer count, so the
            # odd wrong try never locks anyone. A guesser who waits out each lock does not get
            # here: the window runs from the end of the lock, and the lock keeps growing.
            row.failures, row.window_started_at = 0, now
        row.failures += 1
        row.last_failure_at = now
        lock = _lock_after(row.failures)
        row.locked_until = now + lock if lock else None
        user = session.execute(
            select(col(User.id), col(User.password_hash)).where(col(User.email) == email)
        ).one_or_none()
        if user is None:
            return _Attempt(0, row.failures, lock, None, None)
        return _Attempt(0, row.failures, lock, user.id, user.password_hash)


def _refusal_recorded(session: Session, email: str, *, since: datetime | None) -> bool:
    """True when a refusal of ``email`` was audited since the failure that set its lock."""
    query = select(col(AuditEvent.id)).where(
        col(AuditEvent.actor) == email, col(AuditEvent.action) == "sign_in_refused"
    )
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    return session.execute(query.limit(1)).first() is not None


def _sweep_throttle(session: Session, now: datetime) -> None:
    """Forget addresses whose window and lock are both over (a guesser spraying addresses
    must not grow the table for ever). Rows another sign-in holds are skipped, never waited
    for, so two sweeps cannot deadlock."""
    cutoff = now - WINDOW
    stale = (
        select(col(SignInThrottle.email))
        .where(
            col(SignInThrottle.window_started_at) < cutoff,
            or_(
                col(SignInThrottle.last_failure_at).is_(None),
                col(SignInThrottle.last_failure_at) < cutoff,
            ),
            or_(
                col(SignInThrottle.locked_until).is_(None),
                col(SignInThrottle.locked_until) < cutoff,
            ),
        )
        .limit(100)
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(SignInThrottle).where(col(SignInThrottle.email).in_(stale)))


def sign_in(engine: Engine, *, email: str, password: str) -> Account:
    """The account for a correct email and password.

    Attempts are counted per email address, whether or not an account has it, in a window of
    15 minutes; after five failures sign-in is refused for 30 s, doubling with each further
    failure up to 15 minutes. Unknown and known addresses get the same answers after the same
    work. Failures, lockouts and refusals are written to the audit log.
    """
    dummy = _dummy_hash()  # computed on the first sign-in of the process, whoever it is for
    try:
        email = _normal(email)
    except ValueError:
        verify_password(password, dummy)
        time.sleep(FAILURE_DELAY_SECONDS)
        raise SignInError(WRONG) from None
    now = utcnow()
    attempt = _reserve(engine, email, now)
    if attempt.locked_for:
        time.sleep(FAILURE_DELAY_SECONDS)  # a refused guess costs as much as a wrong one
        raise SignInError(f"Too many failed sign-ins. Try again in {attempt.locked_for} seconds.")
    # The slow check runs outside any transaction (SQLite's write lock would queue every
    # other sign-in and the worker's writes behind it). SSO-only accounts have no scrypt hash.
    stored = attempt.password_hash or ""
    if not stored.startswith("scrypt$"):
        stored = dummy
    if verify_password(password, stored) and attempt.user_id is not None:
        with write_session(engine) as session:
            user = session.get(User, attempt.user_id)
            if user is not None:  # (not removed meanwhile)
                session.execute(delete(SignInThrottle).where(col(SignInThrottle.email) == email))
                _sweep_throttle(session, now)
                user.last_sign_in_at = now
                return _account(user)
    with write_session(engine) as session:
        record(
            session,
            actor=email,
            action="sign_in_failed",
            detail="unknown account" if attempt.user_id is None else None,
        )
        if attempt.lock_on_failure is not None:
            seconds = int(attempt.lock_on_failure.total_seconds())
            record(
                session,
                actor=email,
                action="sign_in_locked",
                target=email,
                detail=f"{attempt.failures} failed sign-ins within "
                f"{int(WINDOW.total_seconds()) // 60} minutes; "
                f"sign-in refused for {seconds} seconds",
            )
        _sweep_throttle(session, now)
    time.sleep(FAILURE_DELAY_SECONDS)
    raise SignInError(WRONG)


class PasswordChangeError(Exception):
    """A password change refused; the message is safe to show."""


def has_local_password(engine: Engine, email: str) -> bool:
    """False for an account that signs in only through single sign-on (no password here)."""
    with read_session(engine) as session:
        stored = session.execute(
            select(col(User.password_hash)).where(col(User.email) == _normal(email))
        ).scalar_one_or_none()
    return bool(stored and stored.startswith("scrypt$"))


def _end_other_sessions(session: Session, user_id: int, keep_token: str | None) -> int:
    """Sign the account out everywhere but the browser holding ``keep_token``; how many."""
    query = delete(AuthSession).where(col(AuthSession.user_id) == user_id)
    if keep_token:
        query = query.where(col(AuthSession.token_hash) != _digest(keep_token))
    return affected_rows(session.execute(query))


def change_password(
    engine: Engine,
    *,
    email: str,
    current_password: str,
    new_password: str,
    keep_token: str | None = None,
) -> int:
    """The signed-in person changes their own password; returns how many of their other
    sessions were signed out (every one but ``keep_token``'s, which stays signed in).

    A wrong current password counts as a failed sign-in of that address, in the same row
    and under the same lock as ``sign_in`` (reserved before the check): guessing here is no
    faster than at the sign-in form, and the two together get no more tries than one alone.
    """
    dummy = _dummy_hash()
    email = _normal(email)
    if new_password == current_password:
        raise PasswordChangeError("The new password is the same as the current one.")
    check_strength(new_password, email=email)  # before any attempt is counted
    with read_session(engine) as session:
        known = session.execute(
            select(col(User.password_hash)).where(col(User.email) == email)
        ).scalar_one_or_none()
    if known is not None and not known.startswith("scrypt$"):
        raise PasswordChangeError(
            "This account signs in with single sign-on; its password is kept by the "
            "identity provider."
        )
    now = utcnow()
    attempt = _reserve(engine, email, now)
    if attempt.locked_for:
        time.sleep(FAILURE_DELAY_SECONDS)
        raise PasswordChangeError(
            f"Too many wrong passwords for this account. Try again in {attempt.locked_for} seconds."
        )
    stored = attempt.password_hash or ""
    if attempt.user_id is not None and verify_password(current_password, stored):
        new_hash = hash_password(new_password)  # slow: outside the write transaction
        with write_session(engine) as session:
            user = session.get(User, attempt.user_id, with_for_update=True)
            if user is None or user.password_hash != stored:
                raise PasswordChangeError(
                    "The password was changed or the account removed meanwhile; sign in again."
                )
            session.execute(delete(SignInThrottle).where(col(SignInThrottle.email) == email))
            user.password_hash = new_hash
            ended = _end_other_sessions(session, attempt.user_id, keep_token)
            record(
                session,
                actor=email,
                action="password_changed",
                target=email,
                detail=f"{ended} other session(s) signed out",
            )
            return ended
    if attempt.user_id is None:
        verify_password(current_password, dummy)
    with write_session(engine) as session:
        record(
            session,
            actor=email,
            action="password_change_failed",
            target=email,
            detail="wrong current password",
        )
        if attempt.lock_on_failure is not None:
            record(
                session,
                actor=email,
                action="sign_in_locked",
                target=email,
                detail=f"{attempt.failures} wrong passwords within "
                f"{int(WINDOW.total_seconds()) // 60} minutes; sign-in and password changes "
                f"refused for {int(attempt.lock_on_failure.total_seconds())} seconds",
            )
    time.sleep(FAILURE_DELAY_SECONDS)
    raise PasswordChangeError("The current password is wrong.")


def password_settable(engine: Engine, *, actor: Actor, email: str) -> str:
    """The normalised address if an admin can set its password (asked before the password,
    so nobody types one for an address that is wrong); else ValueError saying why."""
    require_admin(actor, "set passwords")
    email = _normal(email)
    with read_session(engine) as session:
        stored = session.execute(
            select(col(User.password_hash)).where(col(User.email) == email)
        ).scalar_one_or_none()
    if stored is None:
        raise ValueError(f"No account for {email}. See `finops users list`.")
    if not stored.startswith("scrypt$"):
        raise ValueError(
            f"{email} signs in with single sign-on; its password is kept by the identity provider."
        )
    return email


def set_password(engine: Engine, *, actor: Actor, email: str, password: str) -> int:
    """An admin sets a new password for an account (``finops users set-password``): every
    session of that account is signed out and its sign-in lock is lifted. Returns how many
    sessions ended. Refused for an unknown address, a weak password, and an account that
    signs in with single sign-on (a local password would bypass the identity provider)."""
    email = password_settable(engine, actor=actor, email=email)
    check_strength(password, email=email)
    new_hash = hash_password(password)
    with write_session(engine) as session:
        user = session.execute(
            select(User).where(col(User.email) == email).with_for_update()
        ).scalar_one_or_none()
        if user is None:
            raise ValueError(f"No account for {email}.")
        user.password_hash = new_hash
        ended = _end_other_sessions(session, user.id or 0, None)
        session.execute(delete(SignInThrottle).where(col(SignInThrottle.email) == email))
        record(
            session,
            actor=actor.email,
            action="password_set",
            target=email,
            detail=f"by an admin; {ended} session(s) signed out",
        )
        return ended


def current_account(engine: Engine, user_id: int) -> Account | None:
    """Re-read on every page: a removed user or a changed role takes effect at once."""
    with read_session(engine) as session:
        user = session.get(User, user_id)
        return _account(user) if user else None


SSO_PASSWORD = "sso$"  # not a scrypt hash: a password sign-in can never match it


def account_for_sso(engine: Engine, email: str, admin_emails: str) -> Account:
    """The account of someone the identity provider vouched for, created on first sign-in
    (admin if listed in ``admin_emails``, else viewer); later sign-ins keep the stored role."""
    email = _normal(email)
    admins = {_normal(e) for e in admin_emails.split(",") if e.strip()}
    with write_session(engine) as session:
        user = session.execute(select(User).where(col(User.email) == email)).scalar_one_or_none()
        if user is None:
            role = Role.ADMIN if email in admins else Role.VIEWER
            user = User(email=email, role=role, password_hash=SSO_PASSWORD, created_at=utcnow())
            session.add(user)
            session.flush()
            record(
                session,
                actor=email,
                action="user_added",
                target=email,
                detail=f"role {role}, single sign-on",
            )
        user.last_sign_in_at = utcnow()
        return _account(user)


def open_session(engine: Engine, account: Account, hours: float) -> str:
    """A new sign-in session; returns the token for the browser cookie (stored here hashed)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with write_session(engine) as session:
        session.add(
            AuthSession(
                token_hash=_digest(token),
                user_id=account.id,
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
    return token


def account_for_token(engine: Engine, token: str) -> Account | None:
    """The account of a live session token, or None (unknown, expired or signed out)."""
    with read_session(engine) as session:
        row = session.execute(
            select(AuthSession).where(col(AuthSession.token_hash) == _digest(token))
        ).scalar_one_or_none()
        if row is None or row.expires_at <= utcnow():
            return None
        user = session.get(User, row.user_id)
        return _account(user) if user else None


def close_session(engine: Engine, token: str) -> None:
    """Sign out: the token stops working everywhere at once."""
    with write_session(engine) as session:
        session.execute(delete(AuthSession).where(col(AuthSession.token_hash) == _digest(token)))
        # Expired sessions are dead weight; sweep them while we are here.
        session.execute(delete(AuthSession).where(col(AuthSession.expires_at) <= utcnow()))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- the one-time setup token -----------------------------------------------------------------
#
# While no account exists, whoever reaches the setup page creates the first admin. When the
# dashboard can be reached from other machines, the page also asks for a token printed on the
# server's console (as Jupyter and Grafana do). Each Streamlit process prints its own token the
# first time it needs one, and appends only its SHA-256 to ``setup-token`` (mode 0600) in the
# data directory; a token listed there is accepted by every process sharing that directory, so
# replicas on one host (or one volume) accept each other's token and a restart adds a new one
# without voiding one already printed. Creating the first admin deletes the file. A process
# that cannot write the file still accepts its own token (kept in memory).

SETUP_TOKEN_FILE = "setup-token"
_setup_lock = threading.Lock()
_issued: dict[Path, str] = {}  # data directory -> digest of the token this process printed


def issue_setup_token(data_dir: Path, out: TextIO | None = None) -> None:
    """Print this process's setup token to ``out`` (stderr), once; keep only its digest."""
    key = data_dir.resolve()
    with _setup_lock:
        if key in _issued:
            return
        token = secrets.token_hex(16)
        _issued[key] = _digest(token)
        path = data_dir / SETUP_TOKEN_FILE
        scope = "It works on every dashboard process sharing this data directory"
        try:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, f"{_issued[key]}\n".encode())
            finally:
                os.close(fd)
        except OSError as exc:
            scope = f"It works on this process only ({path} cannot be written: {exc.strerror})"
        stream = out or sys.stderr
        stream.write(
            "\nAnthropic FinOps: no account exists yet and this dashboard can be reached from "
            "other machines.\nTo create the first administrator, enter this one-time setup "
            f"token on the setup page:\n\n    {token}\n\n{scope}, until the first administrator "
            "exists. Keep it to yourself: it lets whoever enters it create that admin.\n(Or set "
            "FINOPS_BOOTSTRAP_ADMIN_EMAIL and FINOPS_BOOTSTRAP_ADMIN_PASSWORD and restart.)\n\n"
        )
        stream.flush()


def setup_token_matches(data_dir: Path, token: str) -> bool:
    """True when ``token`` is one a process sharing ``data_dir`` printed (constant time)."""
    candidate = _digest(token.strip())
    known = [_issued.get(data_dir.resolve(), "")]
    with contextlib.suppress(OSError):
        known += (data_dir / SETUP_TOKEN_FILE).read_text().split()
    matched = False
    for digest in known:
        matched |= len(digest) == len(candidate) and hmac.compare_digest(candidate, digest)
    return matched


def retire_setup_tokens(data_dir: Path) -> None:
    """Setup is done: no token opens it again (it is refused anyway once an account exists)."""
    with _setup_lock:
        _issued.pop(data_dir.resolve(), None)
        with contextlib.suppress(FileNotFoundError):
            (data_dir / SETUP_TOKEN_FILE).unlink()


def bootstrap_admin(engine: Engine, email: str | None, password: str | None) -> bool:
    """``FINOPS_BOOTSTRAP_ADMIN_*``: create the first admin without the page, once. True when
    that admin exists now (created here, or by a process that raced us). A value that cannot be
    used raises ValueError naming the variable (never showing the password)."""
    if not email or not password or user_count(engine):
        return False
    try:
        create_first_admin(engine, email=email, password=password)
    except SetupDone:
        pass
    except WeakPassword as exc:
        raise WeakPassword(f"FINOPS_BOOTSTRAP_ADMIN_PASSWORD cannot be used: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"FINOPS_BOOTSTRAP_ADMIN_EMAIL cannot be used: {exc}") from None
    return True


__all__ = ["PermissionDenied"]
