"""Admin keys encrypted at rest with MultiFernet; the master key lives outside the database.

Master keys come from ``FINOPS_MASTER_KEY`` (comma-separated, newest first) or from a key file
(one key a line, newest first, mode 0600). The first key encrypts; every key decrypts, which is
what lets ``finops rotate-master-key`` re-encrypt stored keys one by one.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shlex
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.private_files import ensure_private_folder
from app.settings import Settings

_GENERATE_HINT = (
    "Generate one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)
# 32 random bytes have about 30 distinct values; fewer than this is a typed-in placeholder
# such as "AAAA…A=" (a valid Fernet key made of zero bytes), never a generated key.
_MIN_DISTINCT_BYTES = 8


class MasterKeyError(RuntimeError):
    """The master key is missing, malformed or unsafe; the message says how to fix it."""


class KeyDecryptError(RuntimeError):
    """A stored key could not be decrypted (wrong master key or tampered ciphertext)."""


class _Keys(NamedTuple):
    # Swapped as one object so threads sharing a KeyStore never see half a reload.
    multi: MultiFernet
    primary: Fernet


class KeyStore:
    """Encrypts and decrypts organization keys. The first master key encrypts; all decrypt.

    A store built from a key file notices when the file is replaced (a rotation by
    ``finops rotate-master-key``) and reloads it, so a long-running worker keeps decrypting.
    """

    def __init__(
        self,
        master_keys: list[bytes],
        *,
        source: str = "The master key",
        key_file: Path | None = None,
    ) -> None:
        self._source = source
        self._key_file = key_file
        self._file_stamp = _stamp(key_file) if key_file is not None else None
        self._reload_lock = threading.Lock()
        self._keys = _build(master_keys, source)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        """Master keys from ``FINOPS_MASTER_KEY`` (comma-separated, newest first) or the key file,
        which is created with mode 0600 on first use."""
        if settings.master_key:
            keys = [k.strip().encode() for k in settings.master_key.split(",") if k.strip()]
            return cls(keys, source="FINOPS_MASTER_KEY")
        path = settings.resolved_master_key_file
        _create_key_file_if_missing(path)
        remove_leftover_temp_files(path)
        # Stamp before reading: a rotation that replaces the file in between is then noticed.
        stamp = _stamp(path)
        store = cls(_read_key_file(path), source=f"The master key file {path}", key_file=path)
        store._file_stamp = stamp
        return store

    def encrypt(self, secret: str) -> str:
        return self._current().multi.encrypt(secret.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._current().multi.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, ValueError, UnicodeError) as exc:
            raise _decrypt_error() from exc

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted under the first master key; KeyDecryptError if no key opens it."""
        try:
            return self._current().multi.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError, UnicodeError) as exc:
            raise _decrypt_error() from exc

    def is_current(self, token: str) -> bool:
        """Whether ``token`` is already encrypted under the first master key (nothing to rotate)."""
        try:
            self._current().primary.decrypt(token.encode("ascii"))
        except (InvalidToken, ValueError, UnicodeError):
            return False
        return True

    def _current(self) -> _Keys:
        """The keys, reloaded first if the key file was replaced since they were read."""
        if self._key_file is None or _stamp(self._key_file) == self._file_stamp:
            return self._keys
        with self._reload_lock:
            # Stamp before reading: a replacement during the read is then caught next time.
            stamp = _stamp(self._key_file)
            if stamp != self._file_stamp:
                self._keys = _build(_read_key_file(self._key_file), self._source)
                self._file_stamp = stamp
            return self._keys


def add_new_master_key(path: Path) -> None:
    """Prepend a freshly generated key to the key file: it encrypts from now on, and the old
    keys stay so everything stored under them still decrypts. The file is replaced atomically."""
    keys = _read_key_file(path)
    _write_key_file(path, [Fernet.generate_key(), *keys])


def retire_old_master_keys(path: Path) -> None:
    """Keep only the first (newest) key in the key file. Only safe once every stored key has
    been re-encrypted under it: whatever is still under an old key becomes unreadable."""
    keys = _read_key_file(path)
    if len(keys) > 1:
        _write_key_file(path, keys[:1])


def load_master_key_file(path: Path) -> list[bytes]:
    """The keys in the key file, newest first (created with one key, mode 0600, if missing)."""
    return _load_or_create_key_file(path)


def key_hint(key: str) -> str:
    """What may be shown of a key after saving: its type prefix and last four characters."""
    key = key.strip()
    parts = key.split("-")
    prefix = "-".join(parts[:3]) + "-" if len(parts) > 3 else "sk-"
    return f"{prefix}…{key[-4:]}"


def _decrypt_error() -> KeyDecryptError:
    return KeyDecryptError(
        "The stored key could not be decrypted: the master key does not match or the "
        "stored value was altered. Replace the key of this organization."
    )


def _build(master_keys: list[bytes], source: str) -> _Keys:
    """Fernets for ``master_keys``. Messages name the position of a bad key, never its value."""
    if not master_keys:
        raise MasterKeyError(f"{source} holds no master key. {_GENERATE_HINT}")
    fernets: list[Fernet] = []
    for number, key in enumerate(master_keys, start=1):
        where = f"{source}: key {number} of {len(master_keys)}"
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # `from None`: the chained binascii error could quote part of the value.
            raise MasterKeyError(
                f"{where} is not a valid Fernet key (44 characters of url-safe base64 encoding "
                f"32 random bytes; this one has {len(key)} characters). {_GENERATE_HINT}"
            ) from None
        # Only the encrypting key must be strong; older keys merely decrypt, and refusing them
        # would make it impossible to rotate away from them.
        if number == 1 and len(set(base64.urlsafe_b64decode(key))) < _MIN_DISTINCT_BYTES:
            raise MasterKeyError(
                f"{where} looks like a placeholder, not a randomly generated key. {_GENERATE_HINT}"
            )
    return _Keys(MultiFernet(fernets), fernets[0])


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Identity of the file's current version: os.replace gives a new inode."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _load_or_create_key_file(path: Path) -> list[bytes]:
    _create_key_file_if_missing(path)
    return _read_key_file(path)


def _create_key_file_if_missing(path: Path) -> None:
    """Write a first key to a temp file and link it into place: a kill half-way leaves no key
    file (the next start makes one) rather than an empty one, and two processes starting
    together end up with the same file (the link of the slower one fails; it reads theirs)."""
    if path.exists():
        return
    ensure_private_folder(path.parent)
    tmp_name = _write_temp_key_file(path, [Fernet.generate_key()])
    try:
        os.link(tmp_name, path)
    except FileExistsError:
        pass  # another process created it a moment ago; read theirs
    except FileNotFoundError:
        # Another process starting at the same moment created the file and then removed our
        # temp file as a leftover: theirs is in place, read it.
        if not path.exists():
            raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
    _fsync_directory(path.parent)


def _read_key_file(path: Path) -> list[bytes]:
    try:
        mode = path.stat().st_mode
        if os.name == "posix" and mode & 0o077:
            raise MasterKeyError(
                f"The master key file {path} can be read or written by other users "
                f"(mode {mode & 0o777:04o}); anyone who can read it can decrypt every stored "
                f"Admin key. Fix it with: chmod 600 {shlex.quote(str(path))}"
            )
        lines = path.read_bytes().split()
    except OSError as exc:
        raise MasterKeyError(f"Cannot read the master key file {path}: {exc.strerror}.") from exc
    keys = [line.strip() for line in lines if line.strip()]
    if not keys:
        raise MasterKeyError(f"The master key file {path} is empty. Restore it from a backup.")
    return keys


def _write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically: a crash leaves either the old or the new file, whole
    (and perhaps a temp file, which :func:`remove_leftover_temp_files` removes next time)."""
    tmp_name = _write_temp_key_file(path, keys)
    try:
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)


def _write_temp_key_file(path: Path, keys: list[bytes]) -> str:
    """A durable 0600 temp file holding ``keys``, beside ``path`` (same file system)."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.chmod(tmp_name, 0o600)  # mkstemp already uses 0600; say it, whatever the platform
            handle.write(b"".join(key + b"\n" for key in keys))
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return tmp_name


def _leftover_pattern(path: Path) -> re.Pattern[str]:
    # Exactly what _write_temp_key_file makes: mkstemp's 8 characters of [a-z0-9_].
    return re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")


def remove_leftover_temp_files(path: Path, *, lock_held: bool = False) -> int:
    """Remove the temp files a killed key-file write left beside ``path`` (they hold master
    keys); returns how many. Only regular files of our own name pattern are touched, and only
    while no rotation holds the lock (a running one's temp file is its write in progress);
    ``lock_held``: the caller holds :func:`rotation_lock` already."""
    pattern = _leftover_pattern(path)
    try:
        names = [n for n in os.listdir(path.parent) if pattern.fullmatch(n)]
    except OSError:
        return 0  # no folder yet, or unreadable: reading the key file explains it
    if not names:
        return 0
    if lock_held:
        return _remove_temp_files(path.parent, names)
    try:
        with rotation_lock(path):
            return _remove_temp_files(path.parent, names)
    except MasterKeyError:
        return 0  # a rotation is running: it, or the next start, cleans up


def _remove_temp_files(folder: Path, names: list[str]) -> int:
    removed = 0
    for name in names:
        candidate = folder / name
        with contextlib.suppress(FileNotFoundError):
            st = candidate.lstat()
            if stat.S_ISREG(st.st_mode) and (os.name != "posix" or st.st_uid == os.geteuid()):
                candidate.unlink()
                removed += 1
    if removed:
        _fsync_directory(folder)
    return removed


@contextlib.contextmanager
def rotation_lock(path: Path) -> Iterator[None]:
    """One writer of a key file at a time (rotations, and the clean-up of their leftovers):
    two rotations at once would each prepend their own key, and the one whose file write lost
    would encrypt stored keys under a key that is on no disk. MasterKeyError if it is held."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks; the operator runs one rotation
        yield
        return
    ensure_private_folder(path.parent)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MasterKeyError(
                f"Another rotation of {path} is running. Wait for it to finish, then run this "
                "again if needed."
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, and not fatal.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
