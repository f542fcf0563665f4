"""Another process holding SQLite's write lock, as a running sync, a backup or an sqlite3 shell
in another terminal does."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLDER = """
import sqlite3, sys

conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()  # held until the test closes our stdin
conn.rollback()
"""


@contextmanager
def write_lock_held_by_another_process(database: Path) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` on ``database`` in a child process, held for the whole block."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        yield
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
