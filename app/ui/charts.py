"""Plotly charts and their CSV downloads. Floats appear only here, at the chart edge."""

from __future__ import annotations

import html
from datetime import date

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app.reports.frames import to_csv
from app.reports.top import is_other
from app.ui.format import md, plain

PALETTE = px.colors.qualitative.Safe + px.colors.qualitative.Pastel


def safe_labels(series: pd.Series) -> pd.Series:
    """Plotly renders a few HTML tags inside labels; names from the API are plain text, and
    lose their bidi controls as everywhere else they are shown."""
    return series.map(lambda v: html.escape(plain(v), quote=False))


def period_ticks(fig: go.Figure, periods: list[date], grain: str) -> go.Figure:
    """One tick per week or month, on the day the period starts (Plotly's own ticks fall on
    Sundays or mid-month, which reads as the wrong period)."""
    if grain != "day" and periods:
        shown = sorted(set(periods))[:: max(1, len(set(periods)) // 10)]
        fig.update_xaxes(
            tickmode="array", tickvals=shown, tickformat="%b %Y" if grain == "month" else "%b %d"
        )
    return fig


# The "Other (N …)" group of the smaller ones: grey, and last, so it never reads as one of them.
OTHER_COLOUR = "#b8b8b8"


def stacked_bars(
    frame: pd.DataFrame, *, value: str, group: str, money: bool, title: str, unit: str = "tokens"
) -> go.Figure:
    plot = frame.copy()
    plot[value] = plot[value].astype(float)
    plot[group] = safe_labels(plot[group])
    names = list(dict.fromkeys(plot[group]))
    other = [n for n in names if is_other(n)]
    fig = px.bar(
        plot,
        x="period",
        y=value,
        color=group,
        color_discrete_sequence=PALETTE,
        category_orders={group: [n for n in names if n not in other] + other},
        color_discrete_map=dict.fromkeys(other, OTHER_COLOUR),
    )
    fig.update_layout(
        barmode="stack",
        title=title,
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"title": None, "orientation": "h", "y": -0.2},
        xaxis_title=None,
        yaxis_title="USD" if money else unit,
        hovermode="x unified",
    )
    if money:
        fig.update_yaxes(tickprefix="$", tickformat=",.2f")
        fig.update_traces(hovertemplate="%{fullData.name}: $%{y:,.2f}<extra></extra>")
    return fig


def totals_bars(
    frame: pd.DataFrame, *, value: str, group: str, money: bool, title: str
) -> go.Figure:
    plot = frame.head(20).iloc[::-1].copy()
    plot[value] = plot[value].astype(float)
    plot[group] = safe_labels(plot[group])
    fig = px.bar(plot, x=value, y=group, orientation="h", color_discrete_sequence=PALETTE[:1])
    fig.update_layout(
        title=title,
        height=max(220, 34 * len(plot) + 90),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis_title="USD" if money else "tokens",
        yaxis_title=None,
    )
    if money:
        fig.update_xaxes(tickprefix="$", tickformat=",.2f")
        fig.update_traces(hovertemplate="%{y}: $%{x:,.2f}<extra></extra>")
    return fig


def chart_with_csv(fig: go.Figure, frame: pd.DataFrame, *, file_name: str, key: str) -> None:
    """The chart, and a download of exactly the numbers it shows."""
    st.plotly_chart(fig, key=f"chart_{key}", config={"displaylogo": False})
    st.download_button(
        "Download CSV",
        data=to_csv(frame),
        file_name=file_name,
        mime="text/csv",
        key=f"csv_{key}",
        icon=":material/download:",
        on_click="ignore",
    )


def other_caption(other: str) -> str:
    """The caption under a table whose smaller groups were added up as ``other``: its label
    holds names from the API ("Other (N …)", or a real name that looks like it), so escaped."""
    return (
        f"The largest are shown by name; {md(other)} are added up as one. Filter to look "
        "into them, or export every row with `finops export`."
    )
