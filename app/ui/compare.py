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
