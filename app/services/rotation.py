"""Master key rotation: re-encrypt every stored Admin key under a new master key.

With a key file: a new key is prepended (once), every organization's ciphertext is re-encrypted
under it in its own transaction, and the old keys are retired at the end. A kill at any point
loses nothing: the file always holds every key some stored ciphertext needs, and a rerun finds
the new key already first and carries on. With ``FINOPS_MASTER_KEY`` the operator manages the
keys (``new,old``); only the stored ciphertexts are rewritten.

Old keys are kept when any stored key could not be decrypted. Retiring is irreversible (the
file holds the only copy of each key) while keeping costs nothing, and an undecryptable key
usually means something the operator should look at first (a database restored from a backup,
the wrong key file) that an old key may still be needed for. The organization is marked "key
rejected"; once an admin replaces (or deletes) it, a rerun retires the old keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import col

from app.db import read_session, write_session
from app.finops.budget_tables import Channel
from app.keystore import (
    KeyDecryptError,
    KeyStore,
    MasterKeyError,
    add_new_master_key,
    load_master_key_file,
    remove_leftover_temp_files,
    retire_old_master_keys,
    rotation_lock,
)
from app.models import Organization, OrgStatus
from app.services.access import OPERATOR
from app.services.audit import record
from app.settings import Settings

KEY_REJECTED_MESSAGE = (
    "The stored Admin key could not be decrypted while rotating the master key: it was altered, "
    "or encrypted under a master key that is no longer configured. Nothing is sent to Anthropic "
    "for this organization until an admin replaces its key."
)
# Each pass re-checks every row, so keys saved by another process during a pass are caught by
# the next one; rows only keep appearing if something keeps encrypting under an old key.
_MAX_PASSES = 5


@dataclass
class RotationReport:
    """What a rotation did; ``failed`` organizations need their key replaced by an admin,
    ``failed_channels`` their secret set again (remove and add the channel)."""

    rotated: int  # organizations re-encrypted under the new primary key
    failed: list[str]  # organization ids whose stored key could not be decrypted
    key_file: Path | None  # the key file that was rotated, or None when FINOPS_MASTER_KEY is used
    # Notification channels (their webhook secret or Slack URL is encrypted like a key).
    channels: int = 0
    failed_channels: list[str] = field(default_factory=list)


def rotate_master_key(*, engine: Engine, settings: Settings) -> RotationReport:
    """Re-encrypt every stored Admin key under the newest master key; safe to kill and rerun.

    ``rotated`` counts the organizations whose stored key is under the new primary key at the
    end, including those re-encrypted by an earlier, interrupted run.
    """
    if settings.master_key:
        store = KeyStore.from_settings(settings)  # a malformed key is explained first
        if len([k for k in settings.master_key.split(",") if k.strip()]) < 2:
            raise MasterKeyError(
                "FINOPS_MASTER_KEY holds a single key, so there is nothing to rotate to. Put a "
                "new key first (FINOPS_MASTER_KEY=new,old), run this again, then remove the old "
                "key. Generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            )
        rotated, failed = _reencrypt_all(engine, store)
        channels, failed_channels = _reencrypt_channels(engine, store)
        _record_done(engine, rotated, failed + failed_channels, where="FINOPS_MASTER_KEY")
        return RotationReport(rotated, failed, None, channels, failed_channels)

    path = settings.resolved_master_key_file
    with rotation_lock(path):
        # What a killed earlier run's file write left holds key material: gone before we start.
        remove_leftover_temp_files(path, lock_held=True)
        # Two or more keys means an earlier run already added the new one (and was stopped, or
        # kept the old keys because something failed): resume with it instead of adding another.
        if len(load_master_key_file(path)) == 1:
            add_new_master_key(path)
        store = KeyStore.from_settings(settings)
        rotated, failed = _reencrypt_all(engine, store)
        channels, failed_channels = _reencrypt_channels(engine, store)
        if not failed and not failed_channels:
            retire_old_master_keys(path)
    _record_done(engine, rotated, failed + failed_channels, where=str(path))
    return RotationReport(rotated, failed, path, channels, failed_channels)


def _reencrypt_channels(engine: Engine, store: KeyStore) -> tuple[int, list[str]]:
    """Re-encrypt every notification channel's secret not yet under the primary key, one
    transaction each (locked, as a key); the names of those that could not be decrypted,
    which keep their ciphertext (and the old master keys are kept for them)."""
    with read_session(engine) as session:
        rows = session.execute(
            select(col(Channel.id), col(Channel.secret_ciphertext)).where(
                col(Channel.secret_ciphertext).is_not(None)
            )
        ).all()
    failed: list[str] = []
    for pk, token in rows:
        if store.is_current(token):
            continue
        with write_session(engine) as session:
            channel = session.get(Channel, pk, with_for_update=True)
            if channel is None or channel.secret_ciphertext is None:
                continue  # removed meanwhile
            if store.is_current(channel.secret_ciphertext):
                continue
            try:
                channel.secret_ciphertext = store.rotate(channel.secret_ciphertext)
            except KeyDecryptError:
                failed.append(channel.name)
    return len(rows) - len(failed), sorted(failed)


def _reencrypt_all(engine: Engine, store: KeyStore) -> tuple[int, list[str]]:
    """Rotate every organization not yet under the primary key, one transaction each."""
    failed: dict[int, str] = {}
    for _ in range(_MAX_PASSES):
        with read_session(engine) as session:
            rows = session.execute(
                select(col(Organization.id), col(Organization.key_ciphertext)).order_by(
                    col(Organization.id)
                )
            ).all()
        pending = [pk for pk, token in rows if pk not in failed and not store.is_current(token)]
        if not pending:
            return len(rows) - len(failed), sorted(failed.values())
        for pk in pending:
            organization_id = _rotate_one(engine, store, pk)
            if organization_id is not None:
                failed[pk] = organization_id
    raise MasterKeyError(
        "Stored keys kept being saved under an old master key while rotating; another process "
        "still uses it. Restart the app and the worker, then run the rotation again (the old "
        "keys were kept, nothing is lost)."
    )


def _rotate_one(engine: Engine, store: KeyStore, pk: int) -> str | None:
    """Re-encrypt one organization's key; its organization id if the key cannot be decrypted."""
    with write_session(engine) as session:
        # Locked: a key replaced at the same moment is either rotated here or saved after.
        org = session.get(Organization, pk, with_for_update=True)
        if org is None or store.is_current(org.key_ciphertext):
            return None  # deleted, or replaced under the new key meanwhile
        try:
            org.key_ciphertext = store.rotate(org.key_ciphertext)
        except KeyDecryptError:
            # Same fail-closed state the sync engine uses: no API call until the key is replaced.
            org.status = OrgStatus.KEY_REJECTED
            org.status_message = KEY_REJECTED_MESSAGE
            org.next_run_at = None
            record(
                session,
                actor=OPERATOR.email,
                action="stored_key_undecryptable",
                target=org.organization_id,
                detail="found while rotating the master key",
            )
            return org.organization_id
        return None


def _record_done(engine: Engine, rotated: int, failed: list[str], *, where: str) -> None:
    with write_session(engine) as session:
        detail = f"{rotated} stored key(s) re-encrypted ({where})"
        if failed:
            detail += f"; {len(failed)} could not be decrypted, old master keys kept"
        record(session, actor=OPERATOR.email, action="master_key_rotated", detail=detail)
