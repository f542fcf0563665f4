"""The FinOps layer: allocation, budgets and alerts, anomalies, interchange (PRODUCT.md).

Each subject is a few modules here. Tables of the layer live in ``app/finops/*_tables.py``
(every such module is imported by ``load_tables``, so the schema knows them before it is
created or upgraded); their ``finops`` commands live in ``app/commands/``; what must follow a
sync is listed in ``AFTER_SYNC``.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.settings import Settings

log = logging.getLogger("app.finops")

# What runs after a sync, in this order (allocation before the budgets that may be scoped by
# it, and before the anomalies that may explain by it): "module:function" taking the engine
# and the settings. Each is run even if an earlier one failed, and a failure is logged, never
# raised: a sync's rows are committed already and must not be reported as failed for it.
AFTER_SYNC: tuple[str, ...] = (
    # Per-key cost estimated where the key may not read it (shown on Spend, labelled).
    "app.store.key_estimate:estimate_changed",
    "app.finops.allocation:reallocate_changed",
    # Budgets (scoped by allocations, so after them): evaluate thresholds, deliver alerts.
    "app.finops.alerts:evaluate",
    # Anomalies (issue 19): check the complete days of every series, notify new episodes.
    "app.finops.anomalies:detect",
)


def load_tables() -> None:
    """Import every ``*_tables`` module of this package (they declare SQLModel tables)."""
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if module.endswith("_tables"):
            importlib.import_module(f"{__name__}.{module}")


def after_sync(engine: Engine, settings: Settings) -> list[str]:
    """Run every ``AFTER_SYNC`` step; returns the names of the steps that failed."""
    failed: list[str] = []
    for target in AFTER_SYNC:
        module_name, _, function_name = target.partition(":")
        try:
            step: Callable[[Engine, Settings], object] = getattr(
                importlib.import_module(module_name), function_name
            )
            step(engine, settings)
        except Exception:
            log.exception("After the sync, %s failed; it runs again after the next sync", target)
            failed.append(target)
    return failed
