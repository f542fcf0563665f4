"""``finops allocations import|list|export|remove`` and ``finops export --dataset allocation``
(PRODUCT.md, "Allocation")."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from app.commands import read_file, say

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.settings import Settings

ALLOCATION_COLUMNS = (
    "date",
    "organization_id",
    "organization_name",
    "allocation",
    "value",
    "amount_usd",
)
# A rule file is small; a larger one is a wrong file.


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "allocations", help="allocate the spend to teams, cost centres… by rules (YAML files)"
    )
    actions = p.add_subparsers(dest="allocations_command", required=True, metavar="ACTION")
    a = actions.add_parser(
        "import",
        help="import an allocation file (YAML or JSON); replaces that allocation's rules; "
        "a refused file changes nothing",
    )
    a.add_argument("file", metavar="FILE", help="the file ('-' for standard input)")
    a.set_defaults(handler=cmd_import)
    a = actions.add_parser("list", help="list the allocations")
    a.add_argument("--json", action="store_true", help="print a JSON array")
    a.set_defaults(handler=cmd_list)
    a = actions.add_parser("export", help="print an allocation as YAML (re-importable)")
    a.add_argument("name", metavar="NAME")
    a.set_defaults(handler=cmd_export)
    a = actions.add_parser("remove", help="remove an allocation, its rules and its lines")
    a.add_argument("name", metavar="NAME")
    a.set_defaults(handler=cmd_remove)


def export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allocation",
        metavar="NAME",
        help="with --dataset allocation: the allocation to export",
    )


def _actor() -> str:
    from app.services.access import OPERATOR

    return OPERATOR.email


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.allocation import import_allocation
    from app.finops.rule_files import RuleFileError

    text = read_file(args.file)
    try:
        result = import_allocation(_engine(settings), text, actor=_actor())
    except RuleFileError as exc:
        raise CliError(f"{args.file}: {exc}. Nothing was changed.") from None
    if not result.changed:
        say(f"Allocation {result.name}: unchanged (version {result.version}).")
    else:
        since = (
            "every day"
            if result.changed_from is None
            else f"the days from {result.changed_from.isoformat()}"
        )
        verb = "imported" if result.created else "updated"
        say(
            f"Allocation {result.name} {verb}: version {result.version}, "
            f"{result.rules} rule{'' if result.rules == 1 else 's'}; {since} allocated."
        )
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _engine
    from app.finops.allocation import list_allocations
    from app.finops.allocation_keys import per_key_coverage

    engine = _engine(settings)
    allocations = list_allocations(engine)
    coverage = per_key_coverage(engine) if any(a.per_key_rules for a in allocations) else None
    if args.json:
        say(
            json.dumps(
                [
                    {
                        "name": a.name,
                        "allocation": a.name,
                        "default": a.default,
                        "version": a.version,
                        "rules": a.rules,
                        "per_key_rule_lines": list(a.per_key_rules),
                        "updated_at": a.updated_at.isoformat().replace("+00:00", "Z"),
                        "updated_by": a.updated_by,
                    }
                    for a in allocations
                ],
                indent=2,
            )
        )
        return 0
    if not allocations:
        say("No allocations. Import one with `finops allocations import FILE`.")
        return 0
    for a in allocations:
        say(
            f"{a.name}\t{a.rules} rule{'' if a.rules == 1 else 's'}\tdefault {a.default}\t"
            f"version {a.version}\t"
            f"updated {a.updated_at:%Y-%m-%d %H:%M} UTC by {a.updated_by}"
        )
        if a.per_key_rules:
            lines = ", ".join(str(line) for line in a.per_key_rules)
            assert coverage is not None
            say(f"  lines {lines}: {coverage.note()}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.allocation import AllocationNotFound, export_allocation

    try:
        sys.stdout.write(export_allocation(_engine(settings), args.name))
    except AllocationNotFound:
        raise CliError(
            f"No allocation is named {args.name}. See `finops allocations list`."
        ) from None
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.allocation import AllocationNotFound, remove_allocation

    try:
        remove_allocation(_engine(settings), args.name, actor=_actor())
    except AllocationNotFound:
        raise CliError(
            f"No allocation is named {args.name}. See `finops allocations list`."
        ) from None
    say(f"Allocation {args.name} removed.")
    return 0


def export_allocation_csv(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    """``finops export --dataset allocation --allocation NAME``: spend per day, organization
    and value, in exact dollars."""
    from app.cli import CliError
    from app.csv_writer import write_csv
    from app.finops.allocation import AllocationNotFound, allocated_days

    name = getattr(args, "allocation", None)
    if not name:
        raise CliError(
            "--dataset allocation needs --allocation NAME (see `finops allocations list`)."
        )
    try:
        rows = allocated_days(
            engine,
            name,
            organization_id=getattr(args, "org", None),
            start=getattr(args, "start", None),
            end=getattr(args, "end", None),
        )
    except AllocationNotFound:
        raise CliError(f"No allocation is named {name}. See `finops allocations list`.") from None
    return write_csv(
        out,
        list(ALLOCATION_COLUMNS),
        (
            [
                row.date,
                row.organization_id,
                row.organization_name,
                name,
                row.value,
                # Exact dollars as a number (a credit stays negative, not text).
                row.amount_cents.scaleb(-2),
            ]
            for row in rows
        ),
    )


EXPORTS = {"allocation": export_allocation_csv}
