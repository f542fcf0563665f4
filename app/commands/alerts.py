"""``finops alerts evaluate|list`` (PRODUCT.md, "Budgets, forecasts and alerts")."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from app.commands import say

if TYPE_CHECKING:
    from app.finops.alerts import AlertView
    from app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("alerts", help="budget thresholds that fired, and their deliveries")
    actions = p.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    a = actions.add_parser(
        "evaluate",
        help="evaluate every budget now and deliver what fired (each threshold fires once "
        "per period); retries pending deliveries",
    )
    a.add_argument("--json", action="store_true", help="print what fired as a JSON array")
    a.set_defaults(handler=cmd_evaluate)
    a = actions.add_parser(
        "list",
        help="what fired: type, budget, threshold_percent, on, period_start, actual_usd, "
        "forecast_usd, fired_at, deliveries (channel, status, attempts, last_status_code, "
        "last_attempt_at)",
    )
    a.add_argument("--json", action="store_true", help="print a JSON array")
    a.set_defaults(handler=cmd_list)


def _line(view: AlertView) -> str:
    d = view.as_json()
    sent = ", ".join(
        f"{x['channel']} {x['status']} ({x['attempts']} attempt(s))" for x in d["deliveries"]
    )
    restated = " (crossed by restated spend)" if d["restatement"] else ""
    forecast = "-" if d["forecast_usd"] is None else f"${d['forecast_usd']:,.2f}"
    return (
        f"{d['fired_at']}  {d['budget']}: {d['threshold_percent']:g}% on {d['on']}{restated}, "
        f"period {d['period_start']}: actual ${d['actual_usd']:,.2f}, forecast {forecast}"
        + (f"; sent to {sent}" if sent else "; no channel")
    )


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _engine
    from app.finops.alerts import evaluate

    fired = evaluate(_engine(settings), settings)
    if args.json:
        say(json.dumps([v.as_json() for v in fired], indent=2))
        return 0
    if not fired:
        say("Nothing fired.")
    for view in fired:
        say("Fired: " + _line(view))
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _engine
    from app.finops.alerts import list_alerts

    views = list_alerts(_engine(settings))
    if args.json:
        say(json.dumps([v.as_json() for v in views], indent=2))
        return 0
    if not views:
        say("No alerts have fired.")
    for view in views:
        say(_line(view))
    return 0
