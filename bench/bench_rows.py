"""The bench organizations' data: the scales (organizations x days x rows a day) and the cost and
usage rows of one organization's day, generated from a fixed seed so every run writes the same."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

SCALES = {"small": (2, 60, 200), "medium": (5, 183, 500), "large": (20, 183, 1366)}
# Model ids as the API reports them: aliases beside their dated ids, the older version-first
# spelling, so the friendly names (app/reports/model_names.py) fold the 12 ids into 8 models
# ("Claude Sonnet 4.5" is two ids) and "Show model ids" keeps them apart (issue 15, defect 6).
MODELS = [
    "claude-sonnet-4-5-20250929",
    "claude-sonnet-4-5",
    "claude-opus-4-1-20250805",
    "claude-opus-4-1",
    "claude-haiku-4-5-20251001",
    "claude-haiku-4-5",
    "claude-sonnet-4-20250514",
    "claude-opus-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-7-sonnet-latest",
    "claude-3-5-haiku-20241022",
    "claude-3-haiku-20240307",
]
# Every bench organization's directory names its workspaces and API keys alike ("Production"
# in each), as two Console organizations of one company do: grouped over several
# organizations they must stay apart, named "Production · Bench 0" (issue 15, defect 2). Two
# keys of one organization share each name, told apart by the end of their ids.
WORKSPACE_NAMES = ["Production", "Staging", "Research"] + [f"Team {i}" for i in range(3, 50)]
API_KEYS = 500


def key_name(i: int) -> str:
    return f"key-{i % 250}"


TIERS = ["standard", "batch", "priority", "flex"]
TOKEN_TYPES = [
    "uncached_input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
]

RowsOf = Callable[[int, date], tuple[list[Any], list[Any]]]


def rows_of(per_day: int) -> RowsOf:
    """``org_rows(org_index, day)``: (cost rows, usage rows) of a bench organization's day,
    ``per_day`` of each (fewer usage rows where draws collided and were merged)."""
    from app.anthropic.schemas import CostRow, UsageRow

    def org_rows(org_index: int, day: date) -> tuple[list[CostRow], list[UsageRow]]:
        rng = random.Random(f"{org_index}:{day}")
        workspaces = [f"wrkspc_{org_index}_{i}" for i in range(len(WORKSPACE_NAMES))] + [None]
        keys = [f"apikey_{org_index}_{i}" for i in range(API_KEYS)] + [None]
        cost, usage = [], []
        # The cost report's rows are one per workspace and description, and a description
        # names the model, token type and tier ("Claude Sonnet 4 Usage - Input Tokens"): the
        # same few hundred descriptions recur across workspaces and days.
        drawn: set[tuple[Any, ...]] = set()
        for i in range(per_day):
            while True:
                ws = rng.choice(workspaces)
                model = rng.choice(MODELS)
                tier = rng.choice(TIERS[:2] if i % 3 else TIERS)
                token = rng.choice(TOKEN_TYPES)
                if (ws, model, tier, token) not in drawn:
                    drawn.add((ws, model, tier, token))
                    break
            cost.append(
                CostRow(
                    day=day,
                    dims={
                        "workspace_id": ws,
                        "description": f"{model} {token} {tier}",
                        "cost_type": "tokens",
                        "model": model,
                        "token_type": token,
                        "service_tier": tier,
                        "context_window": "0-200k",
                        "inference_geo": "global",
                    },
                    amount_cents=Decimal(rng.randint(1, 10**9)).scaleb(-6),
                    currency="USD",
                )
            )
            usage.append(
                UsageRow(
                    day=day,
                    dims={
                        "api_key_id": keys[i % len(keys)],
                        "workspace_id": ws,
                        "model": model,
                        "service_tier": tier,
                        # The API's two context windows (a value per row would make every
                        # rollup crossing it as large as the detail, which no bill has).
                        "context_window": "0-200k" if i % 4 else "200k-1M",
                        "inference_geo": None,
                    },
                    tokens={
                        "uncached_input_tokens": rng.randint(0, 10**6),
                        "cache_creation_5m_input_tokens": 0,
                        "cache_creation_1h_input_tokens": 0,
                        "cache_read_input_tokens": rng.randint(0, 10**6),
                        "output_tokens": rng.randint(0, 10**5),
                        "web_search_requests": 0,
                    },
                )
            )
        # An API page never holds two rows with the same dimensions: merge the few draws that
        # collided, as the product does, so a plain insert of the same rows is possible.
        merged: dict[Any, UsageRow] = {}
        for row in usage:
            key = tuple(row.dims.items())
            if key in merged:
                merged[key].merge(row)
            else:
                merged[key] = row
        return cost, list(merged.values())

    return org_rows
