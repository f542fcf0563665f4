"""``finops export --dataset focus [--focus-version 1.2|1.3]``: the FOCUS Cost and Usage CSV.

No command group of its own: the export is a dataset of ``finops export`` (PRODUCT.md,
"Interchange"). ``--org``, ``--start``, ``--end`` and ``-o`` are ``finops export``'s own.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sqlalchemy import Engine

# Kept here (not imported from app.finops.focus) so `finops --help` stays light.
FOCUS_VERSIONS = ("1.2", "1.3")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Nothing to register: FOCUS is a ``finops export`` dataset."""


def export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--focus-version",
        choices=FOCUS_VERSIONS,
        default="1.2",
        help="FOCUS version of --dataset focus (default 1.2)",
    )


def export_focus(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    from app.finops.focus import export_focus as write

    return write(
        engine,
        out,
        version=getattr(args, "focus_version", None) or "1.2",
        organization_id=args.org,
        start=args.start,
        end=args.end,
    )


EXPORTS = {"focus": export_focus}
