"""The chart of one anomaly's series: daily spend, its expected range on the anomalous days,
and each anomaly marked (Plotly, in the style of ``app.ui.charts``). Floats only here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

from app.ui.charts import PALETTE, money_axis, safe_label


def series_chart(
    days: Sequence[tuple[date, Decimal]], found: Sequence[dict[str, Any]], *, title: str
) -> go.Figure:
    """Daily spend (``days``: cents per day) as a line, the anomalies of the series (``found``:
    as ``finops anomalies --json`` lists them) as red markers with their expected range as a
    bar from low to high. ``title`` is an untrusted name: escaped like every label."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[d for d, _ in days],
            y=[float(c) / 100 for _, c in days],
            mode="lines",
            name="Daily spend",
            line={"color": PALETTE[0]},
            hovertemplate="%{x|%b %d, %Y}: $%{y:,.2f}<extra></extra>",
        )
    )
    if found:
        x = [a["date"] for a in found]
        expected = [a["expected_usd"] for a in found]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=expected,
                mode="markers",
                name="Expected (range)",
                marker={"color": "#888888", "symbol": "line-ew-open", "size": 14},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [a["high_usd"] - a["expected_usd"] for a in found],
                    "arrayminus": [a["expected_usd"] - a["low_usd"] for a in found],
                    "color": "#888888",
                },
                hovertemplate="expected $%{y:,.2f}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[a["actual_usd"] for a in found],
                mode="markers",
                name="Anomaly",
                marker={"color": "#d62728", "size": 11, "symbol": "circle"},
                customdata=[[a["impact_usd"], a["status"]] for a in found],
                hovertemplate=(
                    "%{x|%b %d, %Y}: $%{y:,.2f}<br>impact $%{customdata[0]:,.2f}"
                    " (%{customdata[1]})<extra></extra>"
                ),
            )
        )
    fig.update_layout(
        title={"text": safe_label(title)},
        hovermode="closest",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    money_axis(fig, "y")
    return fig
