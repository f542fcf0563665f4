"""Checks shared by the tests that prove the rollups equal their detail rows."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from app.datasets import ECONOMICS, ECONOMICS_COST_COLUMNS, ECONOMICS_USAGE_COLUMNS, decode_value
from app.db import read_session
from app.models import USAGE_MEASURES, CostDaily, CostLine, UsageBucket, UsageDaily


def assert_economics_equals_the_detail(engine: Engine) -> int:
    """The compound dimension behind unit economics: one row per organization, day and tuple
    of its columns' values (null included), each the detail rows' sum, to the cent and token.
    Returns how many rows it compared (none before a first sync)."""
    compared = 0
    with read_session(engine) as session:
        for table, detail, columns, measures in (
            (CostDaily, CostLine, ECONOMICS_COST_COLUMNS, ("amount_cents",)),
            (UsageDaily, UsageBucket, ECONOMICS_USAGE_COLUMNS, USAGE_MEASURES),
        ):
            by = [detail.organization_pk, detail.date, *(getattr(detail, c) for c in columns)]
            expected = {
                tuple(r[: len(by)]): tuple(r[len(by) :])
                for r in session.execute(
                    select(*by, *(func.sum(getattr(detail, m)) for m in measures)).group_by(*by)
                )
            }
            stored = [
                ((r[0], r[1], *decode_value(r[2])), tuple(r[3:]))
                for r in session.execute(
                    select(
                        table.organization_pk,
                        table.date,
                        table.value,
                        *(getattr(table, m) for m in measures),
                    ).where(table.dim == ECONOMICS)
                )
            ]
            assert len(stored) == len(dict(stored)), (table.__tablename__, "a doubled row")
            assert dict(stored) == expected, table.__tablename__
            compared += len(expected)
    return compared
