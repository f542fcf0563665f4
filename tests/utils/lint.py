"""Run the project's ruff on a probe source, as if it were a file of this repo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def banned_findings(source: str, filename: str) -> list[str]:
    """TID251 (banned import) findings of ruff on ``source`` as if it were ``filename``: the
    nested ruff.toml files and per-file ignores of that path apply."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise"]
        + ["--select", "TID251", "--stdin-filename", filename, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return [line for line in done.stdout.splitlines() if "TID251" in line]
