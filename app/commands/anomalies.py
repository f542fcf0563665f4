"""``finops anomalies``: list spend anomalies, and acknowledge or dismiss one with a reason.

    finops anomalies [--start DATE] [--end DATE] [--json]
    finops anomalies ack ID --reason TEXT
    finops anomalies dismiss ID --reason TEXT [--suppress-days N]

The bare command lists (``--end`` exclusive; the last 30 days by default); ``ack`` and
``dismiss`` are optional actions (PRODUCT.md, "Anomalies").
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import TYPE_CHECKING, Any

from app.commands import say

if TYPE_CHECKING:
    from app.settings import Settings


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-05-31") from None


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days (1 or more)")
    return days


def _anomaly_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an anomaly id (a number)") from None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "anomalies",
        help="spend anomalies by organization, workspace, model and API key; ack or dismiss one",
        description="List spend anomalies (days above their expected range), or triage one: "
        "`finops anomalies ack ID --reason TEXT`, `finops anomalies dismiss ID --reason TEXT "
        "[--suppress-days N]`.",
    )
    p.add_argument("--start", type=_date, metavar="DATE", help="first day, YYYY-MM-DD")
    p.add_argument(
        "--end", type=_date, metavar="DATE", help="day after the last, exclusive (default today)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(handler=cmd_list)
    actions = p.add_subparsers(dest="anomalies_action", required=False, metavar="ACTION")
    a = actions.add_parser("ack", help="acknowledge an anomaly (a reason is required)")
    a.add_argument("anomaly_id", type=_anomaly_id, metavar="ID")
    a.add_argument("--reason", required=True, help="why (kept in the audit log)")
    a.add_argument("--json", action="store_true", help="print the anomaly as JSON")
    a.set_defaults(handler=cmd_ack)
    d = actions.add_parser("dismiss", help="dismiss an anomaly (a reason is required)")
    d.add_argument("anomaly_id", type=_anomaly_id, metavar="ID")
    d.add_argument("--reason", required=True, help="why (kept in the audit log)")
    d.add_argument(
        "--suppress-days",
        type=_days,
        metavar="N",
        help="no new anomaly of this series for N days from this one's day (a planned load test)",
    )
    d.add_argument("--json", action="store_true", help="print the anomaly as JSON")
    d.set_defaults(handler=cmd_dismiss)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.anomalies import list_anomalies

    if args.start and args.end and args.end <= args.start:
        raise CliError("--end must be after --start (the end is exclusive).")
    rows = list_anomalies(_engine(settings), start=args.start, end=args.end)
    if args.json:
        say(json.dumps(rows, indent=2))
        return 0
    if not rows:
        say("No anomalies in this range.")
        return 0
    say(_table(rows))
    return 0


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("ID", "DATE", "ORGANIZATION", "DIMENSION", "VALUE", "ACTUAL", "EXPECTED (RANGE)")
    lines: list[tuple[str, ...]] = [header]
    for r in rows:
        lines.append(
            (
                str(r["id"]),
                r["date"],
                r["organization_id"],
                r["dimension"],
                # Names come from the API: shown as text, control characters made visible.
                repr(r["value"]["name"])[1:-1],
                f"${r['actual_usd']:,.2f}",
                f"${r['expected_usd']:,.2f} (${r['low_usd']:,.2f}-${r['high_usd']:,.2f})",
            )
        )
        extra = f"impact ${r['impact_usd']:,.2f}, {r['status']}"
        lines.append(("", "", "", "", extra, "", ""))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _triage(args: argparse.Namespace, settings: Settings, status: str) -> int:
    from app.cli import CliError, _engine
    from app.finops.anomalies import UnknownAnomaly, triage
    from app.finops.anomaly_tables import AnomalyStatus
    from app.services.access import OPERATOR

    if not args.reason.strip():
        raise CliError("--reason must not be empty: say why (it is kept in the audit log).")
    try:
        row = triage(
            _engine(settings),
            actor=OPERATOR,
            anomaly_id=args.anomaly_id,
            status=AnomalyStatus(status),
            reason=args.reason,
            suppress_days=getattr(args, "suppress_days", None),
        )
    except (UnknownAnomaly, ValueError) as exc:
        raise CliError(str(exc.args[0] if exc.args else exc)) from None
    if args.json:
        say(json.dumps(row, indent=2))
    else:
        until = (
            f"; series suppressed until {row['suppressed_until']}"
            if row.get("suppressed_until")
            else ""
        )
        say(f"Anomaly {row['id']} is now {row['status']}{until}.")
    return 0


def cmd_ack(args: argparse.Namespace, settings: Settings) -> int:
    return _triage(args, settings, "acknowledged")


def cmd_dismiss(args: argparse.Namespace, settings: Settings) -> int:
    return _triage(args, settings, "dismissed")
