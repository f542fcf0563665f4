"""``finops export --dataset key_cost_estimate``: the per-key cost estimated where an
organization's key may not read billed per-key cost (``app.store.key_estimate``). No command
of its own: it is refreshed after every sync, like allocation."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The key_cost export's contract columns (an estimate has no actor of its own: a key is its
# own actor), then what an estimate keeps: the tier and cost type it was divided at.
COLUMNS = (
    "date",
    "organization_id",
    "organization_name",
    "workspace_id",
    "workspace_name",
    "api_key_id",
    "api_key_name",
    "actor_type",
    "actor_id",
    "model",
    "amount_usd",
    "list_amount_usd",
    "service_tier",
    "cost_type",
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """No subcommand: this module offers an export dataset only."""
    del sub


def export_key_cost_estimate(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    """Estimated per-key cost per day, workspace, key, model, tier and cost type, in exact
    dollars; ``list_amount_usd`` is the key's tokens at list price (empty where the day was
    divided by the workspace's whole day)."""
    from app.csv_writer import write_csv
    from app.reports.export import key_cost_estimate_rows

    rows = key_cost_estimate_rows(
        engine,
        getattr(args, "org", None),
        getattr(args, "start", None),
        getattr(args, "end", None),
    )
    return write_csv(out, list(COLUMNS), rows)


EXPORTS = {"key_cost_estimate": export_key_cost_estimate}
