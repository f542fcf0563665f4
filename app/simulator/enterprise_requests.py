"""Request counts of the simulated Enterprise per-user cost rows (reference §14.9): from the
usage rows of the same user and group; null (left out) when the report is grouped by cost or
token type, which have no per-component count."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from app.simulator.enterprise import DIMENSIONS, EnterpriseWorld


def add_requests(
    ent: EnterpriseWorld,
    org_id: str,
    days: list[tuple[date, datetime | None]],
    sums: dict[tuple[Any, ...], list[Any]],
    groups: list[str],
    filters: dict[str, set[str]],
) -> None:
    """Append each cost row's request count to its sums ([amount, list amount, requests])."""
    if {"cost_type", "token_type"} & set(groups):
        return
    usage_filters = {d: f for d, f in filters.items() if d in DIMENSIONS}
    for day, bucket in days:
        for key, values in ent.rows(org_id, day).items():
            if key[0] is None:
                continue
            if any(key[1 + DIMENSIONS.index(d)] not in f for d, f in usage_filters.items()):
                continue
            if "user_id" in filters and key[0] not in filters["user_id"]:
                continue
            wanted = (bucket, key[0], tuple(key[1 + DIMENSIONS.index(g)] for g in groups))
            acc = sums.get(wanted)
            if acc is None:
                continue
            if len(acc) == 2:
                acc.append(0)
            acc[2] += values[6]
