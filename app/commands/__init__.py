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
import sys
from collections.abc import Callable
from pathlib import Path
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


# A rule or budget file larger than this is refused unread (they are a few kB).
MAX_FILE_BYTES = 1_000_000


def say(text: str) -> None:
    """One line on standard output (a command line prints by design)."""
    sys.stdout.write(text + "\n")


def read_file(path: str) -> str:
    """The text of a rule or budget file (``-``: standard input), refused with a clear
    ``CliError`` when it cannot be read, is too large or is not UTF-8 (a BOM is dropped)."""
    from app.cli import CliError

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CliError(f"Could not read {path}: {exc.strerror}. Nothing was changed.") from None
    if len(data) > MAX_FILE_BYTES:
        raise CliError(
            f"{path} is larger than {MAX_FILE_BYTES // 1000} kB: not a rule file. "
            "Nothing was changed."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text. Nothing was changed.") from None
