"""Issue 13: no simulator module grows past about 600 lines (it is split along its seams)."""

from __future__ import annotations

from pathlib import Path

import pytest

SIMULATOR = Path(__file__).resolve().parents[2] / "app" / "simulator"
MAX_LINES = 600


@pytest.mark.parametrize("path", sorted(SIMULATOR.glob("*.py")), ids=lambda p: p.name)
def test_simulator_module_is_at_most_600_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines"
