"""Master key rotation over stored organizations, on SQLite and Postgres: many rows, a kill
mid-way, a tampered row, and a real sync afterwards."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select, update
from sqlmodel import col

import app
from app.db import read_session, write_session
from app.keystore import KeyDecryptError, KeyStore, MasterKeyError, key_hint
from app.models import Organization, OrgStatus
from app.services.rotation import rotate_master_key
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, sync_engine

ORGS = 30


class Killed(BaseException):
    """Stands in for SIGKILL / Ctrl-C: not an Exception, so nothing on the way catches it."""


@pytest.fixture
def file_settings(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The same database, but master keys from a key file instead of FINOPS_MASTER_KEY."""
    monkeypatch.delenv("FINOPS_MASTER_KEY", raising=False)
    key_file = tmp_path / "keys" / "master.key"
    monkeypatch.setenv("FINOPS_MASTER_KEY_FILE", str(key_file))
    return settings.model_copy(update={"master_key": None, "master_key_file": key_file})


def secret(number: int) -> str:
    return f"sk-ant-admin01-{number:04d}" + "Zq9_" * 20


def insert_orgs(engine: Engine, store: KeyStore, count: int = ORGS) -> None:
    """Organizations as a previous version stored them: each key encrypted under ``store``."""
    now = datetime.now(UTC)
    with write_session(engine) as session:
        for number in range(count):
            session.add(
                Organization(
                    organization_id=f"org-{number:04d}",
                    name=f"Org {number}",
                    key_ciphertext=store.encrypt(secret(number)),
                    key_hint=key_hint(secret(number)),
                    status=OrgStatus.HEALTHY,
                    backfill_start=date(2026, 1, 1),
                    created_at=now,
                )
            )


def ciphertexts(engine: Engine) -> dict[str, str]:
    with read_session(engine) as session:
        rows = session.execute(
            select(col(Organization.organization_id), col(Organization.key_ciphertext))
        )
        return {str(org_id): str(token) for org_id, token in rows}


def file_keys(path: Path) -> list[bytes]:
    return path.read_bytes().split()


def assert_all_under(engine: Engine, key: bytes, skip: set[str] | None = None) -> None:
    only_new = KeyStore([key])
    for org_id, token in ciphertexts(engine).items():
        if org_id not in (skip or set()):
            assert only_new.decrypt(token) == secret(int(org_id.split("-")[1]))


def test_rotation_reencrypts_every_org_and_retires_the_old_key(
    engine: Engine, file_settings: Settings
) -> None:
    path = file_settings.resolved_master_key_file
    insert_orgs(engine, KeyStore.from_settings(file_settings))
    (old_key,) = file_keys(path)
    before = ciphertexts(engine)

    report = rotate_master_key(engine=engine, settings=file_settings)

    assert (report.rotated, report.failed, report.key_file) == (ORGS, [], path)
    (new_key,) = file_keys(path)
    assert new_key != old_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    after = ciphertexts(engine)
    assert all(after[org_id] != before[org_id] for org_id in before)
    assert_all_under(engine, new_key)
    with pytest.raises(KeyDecryptError):
        KeyStore([old_key]).decrypt(after["org-0000"])
    # Nothing half-written is left next to the key file.
    assert sorted(p.name for p in path.parent.iterdir()) == ["master.key", "master.key.lock"]

    # Running it again is another full rotation, and everything still decrypts.
    again = rotate_master_key(engine=engine, settings=file_settings)
    assert (again.rotated, again.failed) == (ORGS, [])
    (newest,) = file_keys(path)
    assert newest != new_key
    assert_all_under(engine, newest)


def test_killed_mid_way_then_rerun_resumes_with_the_same_new_key(
    engine: Engine, file_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = file_settings.resolved_master_key_file
    insert_orgs(engine, KeyStore.from_settings(file_settings))
    (old_key,) = file_keys(path)
    real_rotate = KeyStore.rotate
    calls = 0

    def dies_on_the_11th(self: KeyStore, token: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 11:
            raise Killed
        return real_rotate(self, token)

    monkeypatch.setattr(KeyStore, "rotate", dies_on_the_11th)
    with pytest.raises(Killed):
        rotate_master_key(engine=engine, settings=file_settings)
    monkeypatch.setattr(KeyStore, "rotate", real_rotate)

    # Stopped half-way: the new key is first, the old one is still there for the rest.
    new_key, kept = file_keys(path)
    assert kept == old_key
    only_new = KeyStore([new_key])
    assert sum(only_new.is_current(t) for t in ciphertexts(engine).values()) == 10
    assert_all_under(engine, new_key, skip={f"org-{n:04d}" for n in range(10, ORGS)})

    report = rotate_master_key(engine=engine, settings=file_settings)

    assert (report.rotated, report.failed) == (ORGS, [])
    assert file_keys(path) == [new_key]  # the rerun generated no other key
    assert_all_under(engine, new_key)


def test_tampered_key_is_rejected_and_old_keys_are_kept(
    engine: Engine, file_settings: Settings
) -> None:
    path = file_settings.resolved_master_key_file
    insert_orgs(engine, KeyStore.from_settings(file_settings), count=5)
    (old_key,) = file_keys(path)
    token = ciphertexts(engine)["org-0002"]
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with write_session(engine) as session:
        session.execute(
            update(Organization)
            .where(col(Organization.organization_id) == "org-0002")
            .values(key_ciphertext=tampered)
        )

    report = rotate_master_key(engine=engine, settings=file_settings)

    assert (report.rotated, report.failed) == (4, ["org-0002"])
    new_key, kept = file_keys(path)
    assert kept == old_key
    assert_all_under(engine, new_key, skip={"org-0002"})
    with read_session(engine) as session:
        org = session.execute(
            select(Organization).where(col(Organization.organization_id) == "org-0002")
        ).scalar_one()
    assert org.key_ciphertext == tampered  # left as it was
    assert org.status == OrgStatus.KEY_REJECTED
    assert org.next_run_at is None
    assert "could not be decrypted" in (org.status_message or "")
    assert "replaces its key" in (org.status_message or "")

    # An admin replaces the key; the next run retires the old key without adding another.
    with write_session(engine) as session:
        session.execute(
            update(Organization)
            .where(col(Organization.organization_id) == "org-0002")
            .values(
                key_ciphertext=KeyStore.from_settings(file_settings).encrypt(secret(2)),
                status=OrgStatus.HEALTHY,
                status_message=None,
            )
        )
    report = rotate_master_key(engine=engine, settings=file_settings)
    assert (report.rotated, report.failed) == (5, [])
    assert file_keys(path) == [new_key]
    assert_all_under(engine, new_key)


def test_synced_after_rotation_by_a_new_and_a_running_worker(
    sim: Simulator, engine: Engine, file_settings: Settings
) -> None:
    fast = file_settings.model_copy(update={"backfill_months": 1})
    acme, globex = sim.orgs.values()
    connect_org(sim, acme, engine=engine, settings=fast)
    connect_org(sim, globex, engine=engine, settings=fast)
    # Built before the rotation, like the worker of `finops serve`: it holds only the old key.
    running = sync_engine(sim, engine, fast)

    report = rotate_master_key(engine=engine, settings=fast)

    assert (report.rotated, report.failed) == (2, [])
    assert len(file_keys(fast.resolved_master_key_file)) == 1
    fresh = sync_engine(sim, engine, fast)
    assert fresh.run(org_pk(engine, acme.id)).outcome == "ok"
    assert running.run(org_pk(engine, globex.id)).outcome == "ok"


def test_env_master_key_rotation_touches_no_file(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = settings.master_key
    assert old
    insert_orgs(engine, KeyStore.from_settings(settings), count=4)
    new = Fernet.generate_key().decode()
    rotated = settings.model_copy(update={"master_key": f"{new},{old}"})

    report = rotate_master_key(engine=engine, settings=rotated)

    assert (report.rotated, report.failed, report.key_file) == (4, [], None)
    assert_all_under(engine, new.encode())
    assert not settings.resolved_master_key_file.exists()
    # Afterwards the operator keeps only the new key; with one key there is nothing to rotate.
    single = settings.model_copy(update={"master_key": new})
    with pytest.raises(MasterKeyError, match="nothing to rotate") as caught:
        rotate_master_key(engine=engine, settings=single)
    assert new not in str(caught.value)


def test_key_file_readable_by_others_is_refused_with_the_fix(
    engine: Engine, file_settings: Settings
) -> None:
    path = file_settings.resolved_master_key_file
    insert_orgs(engine, KeyStore.from_settings(file_settings), count=2)
    before = ciphertexts(engine)
    path.chmod(0o644)

    with pytest.raises(MasterKeyError) as caught:
        rotate_master_key(engine=engine, settings=file_settings)

    message = str(caught.value)
    assert f"chmod 600 {path}" in message
    assert "0644" in message
    assert path.read_text().split()[0] not in message
    assert len(file_keys(path)) == 1  # no key was added
    assert ciphertexts(engine) == before


def test_malformed_env_key_is_explained_before_anything_is_touched(
    engine: Engine, settings: Settings
) -> None:
    insert_orgs(engine, KeyStore.from_settings(settings), count=1)
    before = ciphertexts(engine)
    bad = settings.model_copy(update={"master_key": f"changeme,{settings.master_key}"})
    with pytest.raises(MasterKeyError, match="key 1 of 2 is not a valid Fernet key") as caught:
        rotate_master_key(engine=engine, settings=bad)
    assert "changeme" not in str(caught.value)
    assert ciphertexts(engine) == before


# A rotation in a child process that SIGKILLs itself at the Nth call of one function: no
# cleanup handler, `finally` or atexit runs, exactly as when the OOM killer or `kill -9` hits.
_KILLED_ROTATION = """
import os, signal, sys

function, nth = sys.argv[1], int(sys.argv[2])
calls = 0


def dies_at_the_nth_call(real):
    def wrapper(*args, **kwargs):
        global calls
        calls += 1
        if calls == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    return wrapper


from app.db import make_engine
from app.keystore import KeyStore
from app.services.rotation import rotate_master_key
from app.settings import get_settings

if function == "KeyStore.rotate":
    KeyStore.rotate = dies_at_the_nth_call(KeyStore.rotate)
else:
    setattr(os, function, dies_at_the_nth_call(getattr(os, function)))
settings = get_settings()
rotate_master_key(engine=make_engine(settings.resolved_database_url), settings=settings)
print("rotation finished")
"""


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# Key-file writes: the new key is added (temp file fsync 1, directory fsync 2, rename 1), every
# stored key is re-encrypted, the old key is retired (fsync 3, directory fsync 4, rename 2).
@pytest.mark.parametrize(
    ("function", "nth", "keys_left", "temp_left", "where"),
    [
        ("fsync", 1, 1, True, "writing the key file with the new key, before the rename"),
        ("replace", 1, 1, True, "renaming the new key file into place"),
        ("fsync", 2, 2, False, "just after the new key file was renamed into place"),
        ("KeyStore.rotate", 1, 2, False, "before re-encrypting the first stored key"),
        ("KeyStore.rotate", 11, 2, False, "between re-encrypting the 10th and 11th stored key"),
        ("fsync", 3, 2, True, "writing the key file without the old key (retire)"),
        ("replace", 2, 2, True, "renaming the retired key file into place"),
        ("fsync", 4, 1, False, "just after the old key was retired"),
    ],
)
def test_a_rotation_killed_by_sigkill_loses_no_key_and_leaves_no_key_material(
    engine: Engine,
    file_settings: Settings,
    tmp_path: Path,
    function: str,
    nth: int,
    keys_left: int,
    temp_left: bool,
    where: str,
) -> None:
    path = file_settings.resolved_master_key_file
    insert_orgs(engine, KeyStore.from_settings(file_settings))
    temp_dir = tmp_path / "tmp"  # the child's TMPDIR: a stray temp file anywhere is seen
    temp_dir.mkdir()
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_ROTATION, function, str(nth)],
        cwd=Path(app.__file__).resolve().parent.parent,
        env={**os.environ, "TMPDIR": str(temp_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, (where, child.stdout, child.stderr)
    assert "rotation finished" not in child.stdout

    # Straight after the kill: every stored key decrypts with what is on disk.
    on_disk = file_keys(path)
    assert len(on_disk) == keys_left, where
    temp_files = list(path.parent.glob(".master.key.*.tmp"))
    assert len(temp_files) == (1 if temp_left else 0), where  # killed where it was meant to be
    if function == "KeyStore.rotate":
        assert sum(KeyStore(on_disk[:1]).is_current(t) for t in ciphertexts(engine).values()) == (
            nth - 1
        )
    survivors = KeyStore(on_disk)
    for org_id, token in ciphertexts(engine).items():
        assert survivors.decrypt(token) == secret(int(org_id.split("-")[1])), where
    # Every master key the killed run had written anywhere (the key file, temp files).
    key_material = {key for f in every_file(tmp_path) for key in f.read_bytes().split()}
    key_material = {k for k in key_material if len(k) == 44 and k.endswith(b"=")} | set(on_disk)

    # The next start (the app, the worker, any command) removes what the kill left behind.
    KeyStore.from_settings(file_settings)
    assert file_keys(path) == on_disk
    assert not list(temp_dir.iterdir())
    for leftover in every_file(tmp_path):
        if leftover != path:
            content = leftover.read_bytes()
            assert not any(key in content for key in key_material), (where, leftover)
            assert not leftover.name.endswith(".tmp"), (where, leftover)

    # And the next rotation completes: one key on disk, every stored key under it.
    report = rotate_master_key(engine=engine, settings=file_settings)
    assert (report.rotated, report.failed) == (ORGS, []), where
    (new_key,) = file_keys(path)
    assert_all_under(engine, new_key)
    assert sorted(p.name for p in path.parent.iterdir()) == ["master.key", "master.key.lock"]
