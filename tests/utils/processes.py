"""Running the real `finops` command and worker as a user would, in child processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

FINOPS = str(Path(sys.executable).with_name("finops"))


def finops(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `finops ARGS` with the current environment (plus ``env``) and capture its output."""
    return subprocess.run(
        [FINOPS, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def start_worker(log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    handle = log_path.open("ab")
    return subprocess.Popen(
        [FINOPS, "worker"],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def streamlit_ready(base: str, *, timeout: float, interval: float = 0.2) -> bool:
    """True once the Streamlit server at ``base`` answers its health check."""

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/_stcore/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return wait_for(healthy, timeout=timeout, interval=interval)
