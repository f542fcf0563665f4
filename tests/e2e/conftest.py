"""The browser tests run once, on the default SQLite database (not once more on Postgres)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'finops.db'}"
