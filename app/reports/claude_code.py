"""The Claude Code report of Console organizations (table ``claude_code_day``) for the dashboard.

Activity (sessions, lines, commits, pull requests, tool decisions) and Anthropic's cost estimate
are summed in SQL by day and by actor. The two JSON columns (tool decisions per tool, estimate per
model) are parsed in Python, but only for the rows the filters select.

The estimate is Anthropic's, from token counts at list prices: it is never billed spend and this
module never reads or adds to ``cost_line``. A page and its CSV downloads share these tables, so
they always hold the same numbers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from app.db import read_session
from app.models import ClaudeCodeDay, Organization, Provider
from app.reports.filters import CodeFilters, values_in, where_provider
from app.reports.frames import long_form
from app.reports.labels import (
    ACTOR_TYPES,
    ALL_TOOLS,
    LINE_CHANGES,
    NO_CODE_MODEL,
    SESSIONS,
    SHIPPED,
    actor_label,
    tool_label,
)
from app.reports.periods import period_of, usd

ACTIVITY = (
    "sessions",
    "lines_added",
    "lines_removed",
    "commits",
    "pull_requests",
    "tool_accepted",
    "tool_rejected",
)
MODEL_TOKENS = ("input", "output", "cache_read", "cache_creation")


def acceptance_rate(accepted: int, rejected: int) -> float | None:
    """Accepted / (accepted + rejected); None when Claude Code proposed nothing."""
    decided = accepted + rejected
    return accepted / decided if decided else None


def has_data(engine: Engine) -> bool:
    """Whether any Claude Code record is stored at all (for the empty state)."""
    with read_session(engine) as session:
        return session.execute(select(col(ClaudeCodeDay.id)).limit(1)).first() is not None


# --- Aggregations in SQL ------------------------------------------------------------------------


def _where(f: CodeFilters) -> list[ColumnElement[bool]]:
    clauses = where_provider(ClaudeCodeDay, f.start, f.end, Provider.CONSOLE, f.organizations)
    actors = values_in(col(ClaudeCodeDay.actor), f.actors)
    return clauses if actors is None else [*clauses, actors]


def _sums() -> list[Any]:
    return [func.sum(getattr(ClaudeCodeDay, name)) for name in ACTIVITY] + [
        func.sum(col(ClaudeCodeDay.estimated_cost_cents))
    ]


def _unpack(values: Sequence[Any]) -> tuple[dict[str, int], Decimal]:
    counts = {name: int(v or 0) for name, v in zip(ACTIVITY, values[: len(ACTIVITY)], strict=True)}
    return counts, Decimal(values[len(ACTIVITY)] or 0)


def activity_by_day(engine: Engine, f: CodeFilters) -> list[tuple[date, dict[str, int], Decimal]]:
    """(day, activity sums, estimated cents) for every day with records in the filters."""
    query = (
        select(col(ClaudeCodeDay.date), *_sums())
        .join(Organization, col(Organization.id) == col(ClaudeCodeDay.organization_pk))
        .where(*_where(f))
        .group_by(col(ClaudeCodeDay.date))
        .order_by(col(ClaudeCodeDay.date))
    )
    with read_session(engine) as session:
        rows = session.execute(query).all()
    return [(row[0], *_unpack(row[1:])) for row in rows]


def activity_by_actor(
    engine: Engine, f: CodeFilters
) -> list[tuple[str | None, str | None, dict[str, int], Decimal]]:
    """(actor, actor type, activity sums, estimated cents) per actor in the filters."""
    query = (
        select(col(ClaudeCodeDay.actor), col(ClaudeCodeDay.actor_type), *_sums())
        .join(Organization, col(Organization.id) == col(ClaudeCodeDay.organization_pk))
        .where(*_where(f))
        .group_by(col(ClaudeCodeDay.actor), col(ClaudeCodeDay.actor_type))
    )
    with read_session(engine) as session:
        rows = session.execute(query).all()
    return [(row[0], row[1], *_unpack(row[2:])) for row in rows]


def _detail_rows(
    engine: Engine, f: CodeFilters
) -> Iterator[tuple[date, str | None, str | None, Decimal]]:
    """(day, tool_actions JSON, models JSON, estimated cents) of the filtered rows, streamed."""
    query = (
        select(
            col(ClaudeCodeDay.date),
            col(ClaudeCodeDay.tool_actions),
            col(ClaudeCodeDay.models),
            col(ClaudeCodeDay.estimated_cost_cents),
        )
        .join(Organization, col(Organization.id) == col(ClaudeCodeDay.organization_pk))
        .where(*_where(f))
        .where(
            or_(
                col(ClaudeCodeDay.tool_actions).is_not(None), col(ClaudeCodeDay.models).is_not(None)
            )
        )
        .execution_options(yield_per=5000)
    )
    with read_session(engine) as session:
        yield from session.execute(query)


# --- JSON columns, parsed for the filtered rows ------------------------------------------------


def _loads(text: str | None, kind: type) -> Any:
    if not text:
        return kind()
    try:
        value = json.loads(text)
    except ValueError:
        return kind()
    return value if isinstance(value, kind) else kind()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _cents(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


@dataclass
class _Details:
    tools: dict[tuple[date, str], list[int]] = field(default_factory=lambda: defaultdict(_pair))
    models: dict[tuple[date, str], list[Any]] = field(default_factory=lambda: defaultdict(_acc))


def _pair() -> list[int]:
    return [0, 0]


def _acc() -> list[Any]:
    return [0, 0, 0, 0, Decimal(0)]


def _details(engine: Engine, f: CodeFilters, grain: str) -> _Details:
    """Tool decisions per (period, tool) and tokens and estimate per (period, model).

    A record's estimate is the sum of its models' (the parser stores it so); should the two ever
    differ, the difference shows as "model not reported" so the chart still adds up.
    """
    out = _Details()
    for day, tools_json, models_json, cents in _detail_rows(engine, f):
        period = period_of(day, grain)
        for tool, counts in _loads(tools_json, dict).items():
            if isinstance(counts, dict):
                acc = out.tools[(period, str(tool))]
                acc[0] += _int(counts.get("accepted"))
                acc[1] += _int(counts.get("rejected"))
        attributed = Decimal(0)
        for item in _loads(models_json, list):
            if not isinstance(item, dict):
                continue
            name = item.get("model")
            macc = out.models[(period, NO_CODE_MODEL if name is None else str(name))]
            for i, token in enumerate(MODEL_TOKENS):
                macc[i] += _int(item.get(token))
            estimate = _cents(item.get("estimated_cost_cents"))
            macc[4] += estimate
            attributed += estimate
        rest = Decimal(cents or 0) - attributed
        if rest:
            out.models[(period, NO_CODE_MODEL)][4] += rest
    return out


# --- Chart-ready tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeSummary:
    """The page's headline numbers for the filters (estimated cost in exact USD)."""

    sessions: int
    lines_added: int
    lines_removed: int
    commits: int
    pull_requests: int
    tool_accepted: int
    tool_rejected: int
    estimated_cost_usd: Decimal

    @property
    def acceptance_rate(self) -> float | None:
        return acceptance_rate(self.tool_accepted, self.tool_rejected)


@dataclass
class ClaudeCodeReport:
    """Every table the Claude Code page charts, for one choice of filters and granularity.

    - ``activity``: period, the activity sums, acceptance_rate, estimated_cost_usd
    - ``actors``: actor, actor_type, activity sums, acceptance_rate, estimated_cost_usd
    - ``tools``: tool, accepted, rejected, acceptance_rate (largest first)
    - ``tools_over_time``: period, tool (with "All tools"), accepted, rejected, acceptance_rate
    - ``models_over_time``: period, Model, estimated_cost_usd
    - ``models``: Model, token sums, estimated_cost_usd (largest first)
    """

    activity: pd.DataFrame
    actors: pd.DataFrame
    tools: pd.DataFrame
    tools_over_time: pd.DataFrame
    models_over_time: pd.DataFrame
    models: pd.DataFrame

    @property
    def empty(self) -> bool:
        return bool(self.activity.empty)  # pandas is untyped here: its attributes are Any

    def summary(self) -> CodeSummary:
        """Totals of the activity table: the same numbers its CSV holds."""
        frame = self.activity
        counts = {name: int(frame[name].sum()) if not frame.empty else 0 for name in ACTIVITY}
        cost = sum(frame["estimated_cost_usd"], start=Decimal(0))
        return CodeSummary(**counts, estimated_cost_usd=cost)


ACTIVITY_COLUMNS = ["period", *ACTIVITY, "acceptance_rate", "estimated_cost_usd"]
ACTOR_COLUMNS = ["actor", "actor_type", *ACTIVITY, "acceptance_rate", "estimated_cost_usd"]
TOOL_COLUMNS = ["tool", "accepted", "rejected", "acceptance_rate"]
MODEL_COLUMNS = ["Model", *(f"{t}_tokens" for t in MODEL_TOKENS), "estimated_cost_usd"]


def claude_code_report(engine: Engine, f: CodeFilters, grain: str) -> ClaudeCodeReport:
    """All the Claude Code page's tables for these filters, per day, week or month."""
    by_period: dict[date, list[Any]] = {}
    for day, counts, cents in activity_by_day(engine, f):
        acc = by_period.setdefault(period_of(day, grain), [0] * len(ACTIVITY) + [Decimal(0)])
        for i, name in enumerate(ACTIVITY):
            acc[i] += counts[name]
        acc[-1] += cents
    activity = pd.DataFrame(
        [
            {
                "period": period,
                **dict(zip(ACTIVITY, acc[:-1], strict=True)),
                "acceptance_rate": acceptance_rate(acc[5], acc[6]),
                "estimated_cost_usd": usd(acc[-1]),
            }
            for period, acc in sorted(by_period.items())
        ],
        columns=ACTIVITY_COLUMNS,
    )

    actor_rows: list[dict[str, Any]] = [
        {
            "actor": actor_label(actor),
            "actor_type": ACTOR_TYPES.get(kind or "", kind or ""),
            **counts,
            "acceptance_rate": acceptance_rate(counts["tool_accepted"], counts["tool_rejected"]),
            "estimated_cost_usd": usd(cents),
        }
        for actor, kind, counts, cents in activity_by_actor(engine, f)
    ]
    actor_rows.sort(key=lambda r: (-r["sessions"], -r["estimated_cost_usd"], r["actor"]))
    actors = pd.DataFrame(actor_rows, columns=ACTOR_COLUMNS)

    details = _details(engine, f, grain)
    tool_totals: dict[str, list[int]] = defaultdict(_pair)
    over_time: dict[tuple[date, str], list[int]] = defaultdict(_pair)
    for (period, tool), (accepted, rejected) in details.tools.items():
        name = tool_label(tool)
        for key in ((period, name), (period, ALL_TOOLS)):
            over_time[key][0] += accepted
            over_time[key][1] += rejected
        tool_totals[name][0] += accepted
        tool_totals[name][1] += rejected
    tools = pd.DataFrame(
        sorted(
            ((t, a, r, acceptance_rate(a, r)) for t, (a, r) in tool_totals.items()),
            key=lambda row: (-(row[1] + row[2]), row[0]),
        ),
        columns=TOOL_COLUMNS,
    )
    tools_over_time = pd.DataFrame(
        [
            [p, t, a, r, acceptance_rate(a, r)]
            for (p, t), (a, r) in sorted(
                over_time.items(), key=lambda kv: (kv[0][0], kv[0][1] != ALL_TOOLS, kv[0][1])
            )
        ],
        columns=["period", *TOOL_COLUMNS],
    )

    model_totals: dict[str, list[Any]] = defaultdict(_acc)
    for (_period, model), acc in details.models.items():
        for i in range(5):
            model_totals[model][i] += acc[i]
    models_over_time = pd.DataFrame(
        [[p, m, usd(acc[4])] for (p, m), acc in sorted(details.models.items())],
        columns=["period", "Model", "estimated_cost_usd"],
    )
    models = pd.DataFrame(
        sorted(
            ([m, *acc[:4], usd(acc[4])] for m, acc in model_totals.items()),
            key=lambda row: (-row[5], row[0]),
        ),
        columns=MODEL_COLUMNS,
    )
    return ClaudeCodeReport(activity, actors, tools, tools_over_time, models_over_time, models)


# --- The tables of the page's charts, from the report's ---------------------------------------


def sessions_per_period(activity: pd.DataFrame) -> pd.DataFrame:
    """Columns: period, sessions."""
    return activity[["period", "sessions"]]


def lines_per_period(activity: pd.DataFrame) -> pd.DataFrame:
    """Columns: period, lines_added, lines_removed."""
    return activity[["period", *LINE_CHANGES]]


def shipped_per_period(activity: pd.DataFrame) -> pd.DataFrame:
    """Columns: period, commits, pull_requests."""
    return activity[["period", *SHIPPED]]


def sessions_long(sessions: pd.DataFrame) -> pd.DataFrame:
    """period, measure ("Sessions"), sessions: the one series of the sessions chart."""
    return sessions.assign(measure=SESSIONS["sessions"])


def lines_long(lines: pd.DataFrame) -> pd.DataFrame:
    """period, change (Added, Removed), lines: the bars side by side."""
    return long_form(lines, LINE_CHANGES, by="period", name="change", value="lines")


def shipped_long(shipped: pd.DataFrame) -> pd.DataFrame:
    """period, kind (Commits, Pull requests), count: the bars side by side."""
    return long_form(shipped, SHIPPED, by="period", name="kind", value="count")


def top_actors_by_sessions(actors: pd.DataFrame, top: int) -> pd.DataFrame:
    """Columns: actor, sessions of the ``top`` actors with most sessions (the actors table's
    order)."""
    return actors[["actor", "sessions"]].head(top)


def top_actors_by_cost(actors: pd.DataFrame, top: int) -> pd.DataFrame:
    """Columns: actor, estimated_cost_usd of the ``top`` actors with the largest estimate."""
    by_cost = actors.sort_values(["estimated_cost_usd", "actor"], ascending=[False, True])
    return by_cost[["actor", "estimated_cost_usd"]].head(top).reset_index(drop=True)
