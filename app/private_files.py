"""Folders and files that hold secrets (the database, the master key) are private to the user
running the app: created 0700 / 0600 whatever the umask, and an existing file that others can
read is tightened. Existing folders are the operator's (a home directory, a mounted volume) and
are never changed; one that other users can write to is warned about."""

from __future__ import annotations

import logging
import os
import shlex
import stat
from pathlib import Path

log = logging.getLogger(__name__)

_POSIX = os.name == "posix"
_warned: set[Path] = set()  # warn once per folder and process, not at every engine


def ensure_private_folder(folder: Path) -> None:
    """Create ``folder`` (and missing parents) with mode 0700 on the folder itself; an existing
    folder is left as it is, with a warning if other users can write to it."""
    if folder.exists():
        if folder.is_dir():
            _warn_if_open(folder)
        # Not a folder: the caller's next step fails with the OS's own message.
        return
    # Missing parents are ours too: each is created 0700 (mkdir(parents=True) would give them
    # the umask's mode, 0777 under umask 000).
    missing = [folder, *(p for p in folder.parents if not p.exists())]
    for part in reversed(missing):
        try:
            part.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by another process: theirs, left as it is
        if _POSIX:
            os.chmod(part, 0o700)  # mkdir's mode is filtered by the umask; say it exactly


def ensure_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if missing, or tighten it to 0600 if other users can
    read or write it and it is ours; a file owned by someone else is only warned about."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        tighten_file(path)
        return
    os.close(fd)
    if _POSIX:
        os.chmod(path, 0o600)  # the umask may only remove bits; this keeps the mode explicit


def tighten_file(path: Path) -> None:
    """Remove group and other access from an existing file we own (nothing if it is missing)."""
    if not _POSIX:
        return
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o077:
        return
    if st.st_uid != os.geteuid():
        log.warning(
            "%s can be read by other users (mode %04o) and belongs to another user, so it was "
            "left as it is. It holds password hashes, cost data and the audit log: make it "
            "private with: chmod 600 %s",
            path,
            stat.S_IMODE(st.st_mode),
            shlex.quote(str(path)),
        )
        return
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    except FileNotFoundError:
        return  # removed meanwhile (a WAL file at its last close)
    except OSError as exc:  # a read-only file system, say: reading it must still work
        log.warning(
            "%s can be read by other users (mode %04o) and could not be made private (%s): "
            "make it private with: chmod 600 %s",
            path,
            stat.S_IMODE(st.st_mode),
            exc.strerror,
            shlex.quote(str(path)),
        )
        return
    log.info("Made %s private (it was mode %04o)", path, stat.S_IMODE(st.st_mode))


def _warn_if_open(folder: Path) -> None:
    if not _POSIX or folder in _warned:
        return
    folder_mode = stat.S_IMODE(folder.stat().st_mode)
    if folder_mode & 0o022:
        _warned.add(folder)
        log.warning(
            "The folder %s can be written by other users (mode %04o): they could replace or "
            "remove the database or the master key file in it. Make it private with: chmod 700 %s",
            folder,
            folder_mode,
            shlex.quote(str(folder)),
        )
