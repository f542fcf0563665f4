"""``finops`` command groups of the FinOps layer, one module each (allocations, budgets, …).

``app.cli`` imports every module here and calls its ``register(sub)`` with the top-level
subparsers. A module may also offer ``finops export`` datasets: ``EXPORTS`` maps a dataset
name to a function ``(engine, args, out) -> rows written``, and ``export_arguments(parser)``
adds the options those datasets take to ``finops export``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sqlalchemy import Engine

Exporter = Callable[["Engine", argparse.Namespace, TextIO], int]


def modules() -> list[ModuleType]:
    """Every command module here, in name order (so ``finops --help`` lists them stably)."""
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
    ]


def exporters() -> dict[str, Exporter]:
    """The ``finops export`` datasets the command modules offer, by name."""
    found: dict[str, Exporter] = {}
    for module in modules():
        found.update(getattr(module, "EXPORTS", {}))
    return found
