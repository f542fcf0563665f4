"""``finops budgets import|list|remove`` (PRODUCT.md, "Budgets, forecasts and alerts")."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from app.commands import read_file, say

if TYPE_CHECKING:
    from app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("budgets", help="budgets with thresholds on actual or forecast spend")
    actions = p.add_subparsers(dest="budgets_command", required=True, metavar="ACTION")
    a = actions.add_parser(
        "import",
        help="import the budget file (YAML or JSON): the file is the whole set, budgets are "
        "known by name; a refused file changes nothing",
    )
    a.add_argument("file", metavar="FILE", help="the file ('-' for standard input)")
    a.set_defaults(handler=cmd_import)
    a = actions.add_parser(
        "list",
        help="each budget's current period: actual_usd (today included), forecast_usd, "
        "forecast_low_usd, forecast_high_usd (80%% interval), exhausted_on, status",
    )
    a.add_argument("--json", action="store_true", help="print a JSON array")
    a.set_defaults(handler=cmd_list)
    a = actions.add_parser("remove", help="remove a budget")
    a.add_argument("name", metavar="NAME")
    a.set_defaults(handler=cmd_remove)


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.budgets import import_budgets
    from app.finops.rule_files import RuleFileError
    from app.services.access import OPERATOR

    text = read_file(args.file)
    try:
        result = import_budgets(_engine(settings), text, actor=OPERATOR)
    except RuleFileError as exc:
        raise CliError(f"{args.file}: {exc}. Nothing was changed.") from None
    for word, names in (
        ("added", result.added),
        ("changed", result.changed),
        ("removed", result.removed),
        ("unchanged", result.unchanged),
    ):
        if names:
            say(f"{word}: {', '.join(names)}")
    if not (result.added or result.changed or result.removed or result.unchanged):
        say("The file has no budgets: none are stored.")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _engine
    from app.finops.budgets import budget_statuses

    statuses = budget_statuses(_engine(settings))
    if args.json:
        say(json.dumps([s.as_json() for s in statuses], indent=2))
        return 0
    if not statuses:
        say("No budgets. Import a file with `finops budgets import FILE`.")
    for s in statuses:
        j = s.as_json()
        runs_out = f", runs out {j['exhausted_on']}" if j["exhausted_on"] else ""
        say(
            f"{j['name']} ({j['period']} from {j['period_start']}): ${j['actual_usd']:,.2f} of "
            f"${j['amount_usd']:,.2f} ({j['percent_used']}%), forecast ${j['forecast_usd']:,.2f} "
            f"[${j['forecast_low_usd']:,.2f} – ${j['forecast_high_usd']:,.2f}, "
            f"{j['forecast_method']}]{runs_out}, {j['status']}"
        )
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.budgets import remove_budget
    from app.services.access import OPERATOR

    if not remove_budget(_engine(settings), actor=OPERATOR, name=args.name):
        raise CliError(f"No budget named {args.name!r}.")
    say(f"Removed budget {args.name}.")
    return 0
