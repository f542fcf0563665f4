"""Admin keys encrypted at rest with MultiFernet; the master key lives outside the database."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.settings import Settings


class MasterKeyError(RuntimeError):
    """The master key is missing, malformed or unsafe; the message says how to fix it."""


class KeyDecryptError(RuntimeError):
    """A stored key could not be decrypted (wrong master key or tampered ciphertext)."""


class KeyStore:
    """Encrypts and decrypts organization keys. The first master key encrypts; all decrypt."""

    def __init__(self, master_keys: list[bytes]) -> None:
        if not master_keys:
            raise MasterKeyError("No master key configured.")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in master_keys])
        except (ValueError, TypeError) as exc:
            raise MasterKeyError(
                "The master key is not a valid Fernet key (32 url-safe base64 bytes). Generate "
                "one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        """Master keys from ``FINOPS_MASTER_KEY`` (comma-separated, newest first) or the key file,
        which is created with mode 0600 on first use."""
        if settings.master_key:
            return cls([k.strip().encode() for k in settings.master_key.split(",") if k.strip()])
        return cls(_load_or_create_key_file(settings.resolved_master_key_file))

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, ValueError, UnicodeError) as exc:
            raise KeyDecryptError(
                "The stored key could not be decrypted: the master key does not match or the "
                "stored value was altered. Replace the key of this organization."
            ) from exc


def _load_or_create_key_file(path: Path) -> list[bytes]:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it a moment ago; read theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key() + b"\n")
    try:
        lines = path.read_bytes().split()
    except OSError as exc:
        raise MasterKeyError(f"Cannot read the master key file {path}: {exc.strerror}.") from exc
    keys = [line.strip() for line in lines if line.strip()]
    if not keys:
        raise MasterKeyError(f"The master key file {path} is empty. Restore it from a backup.")
    return keys


def key_hint(key: str) -> str:
    """What may be shown of a key after saving: its type prefix and last four characters."""
    key = key.strip()
    parts = key.split("-")
    prefix = "-".join(parts[:3]) + "-" if len(parts) > 3 else "sk-"
    return f"{prefix}…{key[-4:]}"
