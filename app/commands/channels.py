"""``finops channels add|test|list|remove`` (PRODUCT.md, "Budgets, forecasts and alerts").

A webhook's signing secret is read from ``FINOPS_CHANNEL_SECRET``, else standard input when it
is not a terminal, else generated and printed once; never from argv. A Slack URL (a secret
too) is given with ``--url`` and stored encrypted like the secret; only hints are shown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from app.commands import say

if TYPE_CHECKING:
    from app.settings import Settings


class _JoinedEvents(argparse.Action):
    """``--events a b`` or ``--events a,b``: kept as one comma-separated string (``finops``
    refuses list values, which an empty ``--opt=`` would otherwise pass)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        items = values if isinstance(values, list) else [values]
        setattr(namespace, self.dest, ",".join(str(v) for v in items))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "channels",
        help="where budget alerts, anomalies and digests are sent (webhook, Slack, email)",
    )
    actions = p.add_subparsers(dest="channels_command", required=True, metavar="ACTION")
    a = actions.add_parser(
        "add",
        help="add a channel; a webhook's signing secret is read from FINOPS_CHANNEL_SECRET or "
        "standard input (whsec_…), else generated and printed once",
    )
    a.add_argument("--name", required=True)
    a.add_argument("--type", required=True, choices=("webhook", "slack", "email"))
    a.add_argument("--url", help="webhook or Slack incoming-webhook URL")
    a.add_argument("--to", metavar="ADDRESSES", help="email: comma-separated addresses")
    a.add_argument(
        "--events",
        nargs="+",
        action=_JoinedEvents,
        metavar="EVENT",
        help="budget.threshold_crossed, anomaly.detected, digest.weekly (default: all)",
    )
    a.add_argument(
        "--min-impact-usd",
        metavar="N",
        help="anomaly.detected only when its impact is at least this many USD",
    )
    a.set_defaults(handler=cmd_add)
    a = actions.add_parser("test", help="send a test event to a channel now")
    a.add_argument("name", metavar="NAME")
    a.set_defaults(handler=cmd_test)
    a = actions.add_parser("list", help="list channels (hints only, never secrets)")
    a.add_argument("--json", action="store_true", help="print a JSON array")
    a.set_defaults(handler=cmd_list)
    a = actions.add_parser("remove", help="remove a channel")
    a.add_argument("name", metavar="NAME")
    a.set_defaults(handler=cmd_remove)


def _read_secret() -> tuple[str | None, bool]:
    """The signing secret given (env, then piped stdin), or None; and whether it was given."""
    secret = os.environ.get("FINOPS_CHANNEL_SECRET")
    if secret and secret.strip():
        return secret.strip(), True
    if not sys.stdin.isatty():
        piped = sys.stdin.read().strip()
        if piped:
            return piped, True
    return None, False


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops import channels
    from app.runtime import keystore
    from app.services.access import OPERATOR

    try:
        events = channels.parse_events(args.events)
        minimum = channels.parse_usd(args.min_impact_usd)
        secret = None
        generated = False
        if args.type == "webhook":
            secret, given = _read_secret()
            if secret is None:
                secret, generated = channels.generate_secret(), True
            else:
                secret = channels.check_secret(secret)
        view = channels.add_channel(
            _engine(settings),
            keystore(settings),
            actor=OPERATOR,
            name=args.name,
            type=args.type,
            url=args.url,
            addresses=args.to,
            secret=secret,
            events=events,
            min_impact_usd=minimum,
        )
    except channels.ChannelError as exc:
        raise CliError(str(exc)) from None
    say(f"Added {view.type} channel {view.name}: {view.target} (events: {', '.join(view.events)})")
    if generated:
        say("Signing secret (shown once; store it in the receiver now):")
        say(str(secret))
    elif view.secret_hint:
        say(f"Signing secret: {view.secret_hint} (stored encrypted)")
    return 0


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.delivery import send_test

    result = send_test(_engine(settings), settings, args.name)
    if result is None:
        raise CliError(f"No channel named {args.name!r}. See `finops channels list`.")
    code = f" (HTTP {result.last_status_code})" if result.last_status_code else ""
    if result.status != "delivered":
        raise CliError(
            f"The test to {args.name} {result.status} after {result.attempts} attempt(s){code}: "
            f"{result.last_error or 'no reason given'}"
        )
    say(f"Test delivered to {args.name}{code}.")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _engine
    from app.finops.channels import list_channels

    views = list_channels(_engine(settings))
    if args.json:
        say(json.dumps([v.as_json() for v in views], indent=2))
        return 0
    if not views:
        say("No channels. Add one with `finops channels add`.")
    for v in views:
        extra = f", secret {v.secret_hint}" if v.secret_hint else ""
        minimum = f", min impact ${v.min_impact_usd:,.2f}" if v.min_impact_usd is not None else ""
        say(f"{v.name}\t{v.type}\t{v.target}{extra}\tevents: {','.join(v.events)}{minimum}")
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import CliError, _engine
    from app.finops.channels import remove_channel
    from app.services.access import OPERATOR

    if not remove_channel(_engine(settings), actor=OPERATOR, name=args.name):
        raise CliError(f"No channel named {args.name!r}.")
    say(f"Removed channel {args.name}.")
    return 0
