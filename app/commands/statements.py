"""``finops statements close MONTH`` and ``finops statements export MONTH --allocation NAME
[--format csv|pdf] -o FILE``: monthly chargeback statements (issue 17 point 6)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from app.commands import say

if TYPE_CHECKING:
    from app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "statements", help="monthly chargeback statements per allocation value (CSV or PDF)"
    )
    actions = p.add_subparsers(dest="statements_command", required=True, metavar="ACTION")
    a = actions.add_parser(
        "close",
        help="lock the month's statement of every allocation; a later restatement shows as "
        "an adjustment on the next month's statement",
    )
    a.add_argument("month", metavar="MONTH", help="YYYY-MM, a month that has ended")
    a.set_defaults(handler=cmd_close)
    a = actions.add_parser(
        "export",
        help="write an allocation's statement of the month (an open month is provisional)",
    )
    a.add_argument("month", metavar="MONTH", help="YYYY-MM")
    a.add_argument("--allocation", metavar="NAME", required=True)
    a.add_argument(
        "--format", choices=("csv", "pdf"), default=None, help="default: FILE's suffix, else csv"
    )
    a.add_argument("-o", "--output", metavar="FILE", required=True)
    a.set_defaults(handler=cmd_export)


def _actor() -> str:
    from app.services.access import OPERATOR

    return OPERATOR.email


def cmd_close(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.allocation import AllocationNotFound
    from app.finops.statements import StatementError, close_month, parse_month

    try:
        month = parse_month(args.month, closing=True)
        result = close_month(_engine(settings), month, actor=_actor())
    except StatementError as exc:
        raise CliError(f"{exc} Nothing was closed.") from None
    except AllocationNotFound:
        raise CliError(
            "There are no allocations to close. Import one with `finops allocations import FILE`."
        ) from None
    for name in result.closed:
        say(f"Allocation {name}: {month:%Y-%m} closed; its statements are locked.")
    for name in result.already:
        say(f"Allocation {name}: {month:%Y-%m} was closed already; nothing changed.")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.allocation import AllocationNotFound
    from app.finops.statement_pdf import statement_pdf
    from app.finops.statements import (
        StatementError,
        month_statement,
        parse_month,
        statement_csv,
    )

    target = Path(args.output)
    fmt = args.format or ("pdf" if target.suffix.lower() == ".pdf" else "csv")
    try:
        month = parse_month(args.month, closing=False)
        statement = month_statement(_engine(settings), args.allocation, month)
    except StatementError as exc:
        raise CliError(f"{exc} Nothing was written.") from None
    except AllocationNotFound:
        raise CliError(
            f"No allocation is named {args.allocation}. See `finops allocations list`."
        ) from None
    data = statement_pdf(statement) if fmt == "pdf" else statement_csv(statement)
    # Write beside the target and rename: a full disk never leaves a half-written statement.
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".finops-statement-", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise CliError(f"Could not write {target}: {exc.strerror}. Nothing was written.") from None
    status = "provisional (the month is open)" if statement.provisional else "closed"
    say(
        f"Statement of {args.allocation} for {month:%Y-%m}, {status}: "
        f"{len(statement.values())} values, {len(statement.rows)} lines written to {target}."
    )
    return 0
