"""A headline metric with its change against the previous period (``app.reports.comparison``).

Spend and token volumes up are costs up: their change is drawn red when it rises
(``delta_color="inverse"``); a share that is better higher (cache reads) the usual way round.
Without data for the previous period the metric says so, grey and without an arrow, rather
than show an infinite change.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

import streamlit as st

from app.reports.comparison import Change

Good = Literal["down", "up"]


def comparison_args(
    change: Change | None,
    shown: Callable[[Decimal], str],
    *,
    good: Good = "down",
    against: str | None = None,
    wide: bool = False,
) -> dict[str, Any]:
    """The ``st.metric`` arguments of ``change``: ``delta`` ("+12.3 %"), ``delta_description``
    ("vs Nov 2 – Dec 1"), colour and arrow. ``shown`` formats the previous figure as the
    metric's value is; ``against`` names the period instead of its dates; ``wide``: a metric
    with room for the previous figure too ("vs Nov 2 – Dec 1 ($1,234.56)"), where four in a
    row would cut it off."""
    args: dict[str, Any] = {}
    if change is None:
        return args
    period = against or change.period
    if change.previous is None:
        args.update(
            delta=change.delta,
            delta_description=period,
            delta_color="off",
            delta_arrow="off",
        )
        return args
    before = shown(change.previous)
    args.update(
        delta=change.delta,
        delta_description=f"vs {period} ({before})" if wide else f"vs {period}",
        delta_color="inverse" if good == "down" else "normal",
    )
    if change.unchanged or change.delta == "new":
        # No ratio to draw (the same figure, or nothing before): grey, and no arrow.
        args.update(delta_color="off", delta_arrow="off")
    return args


OVERLAY_PARAM = "prev"


def seed_overlay(k: str) -> None:
    """Read ``prev=1`` from a shared link; before the filter bar, which rewrites the URL."""
    if k + "overlay" not in st.session_state:
        st.session_state[k + "overlay"] = st.query_params.get(OVERLAY_PARAM) == "1"


def overlay_choice(k: str) -> bool:
    """The "Overlay the previous period" toggle of a page's over-time chart (seeded by
    ``seed_overlay``), kept in the URL as ``prev=1`` after the filter bar has written it."""
    seed_overlay(k)
    on = bool(
        st.toggle(
            "Overlay the previous period",
            key=k + "overlay",
            help="The period of the same length before this one, as a dashed line: its first "
            "day (week, month) over this one's first.",
        )
    )
    if on:
        st.query_params[OVERLAY_PARAM] = "1"
    elif OVERLAY_PARAM in st.query_params:
        del st.query_params[OVERLAY_PARAM]
    return on
