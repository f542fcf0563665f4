"""The FinOps layer's after-sync steps: run in order, one failure never stops the others or
the sync that called them."""

from __future__ import annotations

import logging
import sys
import types

import pytest

from app import finops
from app.settings import Settings


def test_a_failing_step_is_logged_and_the_next_still_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken(_engine: object, _settings: object) -> None:
        ran.append("broken")
        raise RuntimeError("the rules table is locked")

    def fine(_engine: object, _settings: object) -> None:
        ran.append("fine")

    module = types.ModuleType("tests_fake_finops_steps")
    module.broken = broken  # type: ignore[attr-defined]
    module.fine = fine  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(
        finops, "AFTER_SYNC", (f"{module.__name__}:broken", f"{module.__name__}:fine")
    )
    with caplog.at_level(logging.ERROR, logger="app.finops"):
        failed = finops.after_sync(object(), Settings())  # type: ignore[arg-type]
    assert ran == ["broken", "fine"]
    assert failed == [f"{module.__name__}:broken"]
    assert "the rules table is locked" in caplog.text
