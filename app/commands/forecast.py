"""``finops forecast [--org ID] [--json]`` (PRODUCT.md, "Budgets, forecasts and alerts")."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from app.commands import say

if TYPE_CHECKING:
    from app.settings import Settings

HELP = (
    "this month's end-of-month spend per organization and in total, with an 80%% interval, "
    "and the day each budget is projected to run out. --json prints "
    '{"month_start": DATE, "as_of": DATE, "organizations": [{"organization_id", "name", '
    '"actual_usd", "forecast_usd", "low_usd", "high_usd", "method"}], "total": {the same '
    'without the ids}, "budgets": [{"name", "period", "period_start", "amount_usd", '
    '"forecast_usd", "exhausted_on" (null: not projected to run out in its period)}]}'
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("forecast", help=HELP, description=HELP.replace("%%", "%"))
    p.add_argument("--org", metavar="ID", help="only this organization id (and its total)")
    p.add_argument("--json", action="store_true", help="print a JSON object (see above)")
    p.set_defaults(handler=cmd_forecast)


def cmd_forecast(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.budgets import month_forecast

    engine = _engine(settings)
    try:
        result = month_forecast(engine, organization_id=args.org)
    except LookupError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        say(json.dumps(result, indent=2))
        return 0
    say(f"Month from {result['month_start']}, as of {result['as_of']} (80% interval):")
    for row in [*result["organizations"], result["total"]]:
        say(
            f"  {row['name']}: ${row['forecast_usd']:,.2f} "
            f"[${row['low_usd']:,.2f} – ${row['high_usd']:,.2f}] ({row['method']}; "
            f"${row['actual_usd']:,.2f} so far)"
        )
    for b in result["budgets"]:
        runs_out = b["exhausted_on"] or "not within its period"
        say(
            f"  budget {b['name']}: ${b['forecast_usd']:,.2f} of ${b['amount_usd']:,.2f}, "
            f"runs out: {runs_out}"
        )
    return 0
