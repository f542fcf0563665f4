"""Filter conditions shared by every report: what a person chose, as SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_
from sqlalchemy.sql.elements import ColumnElement


def values_in(column: Any, values: Sequence[str]) -> ColumnElement[bool] | None:
    """``column`` is one of ``values``; "" stands for null (the default workspace, the
    Console's key). None when nothing is chosen: every value passes."""
    if not values:
        return None
    named = [v for v in values if v != ""]
    clauses = [column.in_(named)] if named else []
    if len(named) != len(values):
        clauses.append(column.is_(None))
    return or_(*clauses)
