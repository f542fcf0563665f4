"""Plotly charts and their CSV downloads. Floats appear only here, at the chart edge."""

from __future__ import annotations

import html
from datetime import date

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app.reports.frames import to_csv
from app.reports.labels import ALL
from app.ui.format import md, plain

PALETTE = px.colors.qualitative.Safe + px.colors.qualitative.Pastel


def safe_labels(series: pd.Series) -> pd.Series:
    """Plotly renders a few HTML tags inside labels; names from the API are plain text, and
    lose their bidi controls as everywhere else they are shown."""
    return series.map(safe_label)


def safe_label(value: object) -> str:
    """One label as ``safe_labels`` shows it."""
    return html.escape(plain(value), quote=False)


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
    frame: pd.DataFrame,
    *,
    value: str,
    group: str,
    money: bool,
    title: str,
    unit: str = "tokens",
    other: str | None = None,
    grain: str | None = None,
    value_title: str | None = None,
    grouped: bool = False,
    legend: bool = True,
) -> go.Figure:
    """Bars per period stacked (or, ``grouped``, side by side) by ``group``; ``other``, the
    label of the group the smaller ones were added up into (from the report that made
    ``frame``), is grey and last. With ``grain``, one tick per week or month (``period_ticks``);
    ``value_title`` names the value axis (default: USD, or ``unit``)."""
    plot = frame.copy()
    plot[value] = plot[value].astype(float)
    plot[group] = safe_labels(plot[group])
    names = list(dict.fromkeys(plot[group]))
    folded = [n for n in names if other is not None and n == safe_label(other)]
    fig = px.bar(
        plot,
        x="period",
        y=value,
        color=group,
        color_discrete_sequence=PALETTE,
        category_orders={group: [n for n in names if n not in folded] + folded},
        color_discrete_map=dict.fromkeys(folded, OTHER_COLOUR),
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
    if not legend:
        fig.update_layout(showlegend=False)
    if value_title is not None:
        fig.update_layout(yaxis_title=value_title)
    if grouped:
        fig.update_layout(barmode="group")
    if grain is not None:
        period_ticks(fig, list(frame["period"]), grain)
    return fig


def one_series_bars(
    frame: pd.DataFrame, *, value: str, group: str, title: str, unit: str
) -> go.Figure:
    """Bars per period of one series, "All", in the legend under ``group`` as the page's other
    charts by group."""
    return stacked_bars(
        frame.assign(**{group: ALL})[["period", group, value]],
        value=value,
        group=group,
        money=False,
        unit=unit,
        title=title,
    )


def totals_bars(
    frame: pd.DataFrame,
    *,
    value: str,
    group: str,
    money: bool,
    title: str,
    value_title: str | None = None,
    whole_dollars: bool = False,
) -> go.Figure:
    """Horizontal bars of the first 20 rows, the first on top. ``value_title`` names the value
    axis (default: USD or tokens); ``whole_dollars`` for a narrow chart, where cents crowd the
    axis (the hover still shows them)."""
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
    if value_title is not None:
        fig.update_layout(xaxis_title=value_title)
    if whole_dollars:
        fig.update_xaxes(tickformat=",.0f")
    return fig


def daily_lines(
    frame: pd.DataFrame,
    *,
    value: str,
    group: str,
    title: str,
    percent: bool,
    dashed: str | None = None,
) -> go.Figure:
    """One line per ``group`` by date (the Enterprise engagement figures); the ``dashed`` one
    is capacity, not activity."""
    plot = frame.dropna(subset=[value]).copy()
    plot[value] = plot[value].astype(float)
    plot[group] = safe_labels(plot[group])
    fig = px.line(plot, x="date", y=value, color=group, color_discrete_sequence=PALETTE)
    fig.update_layout(
        title=title,
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"title": None, "orientation": "h", "y": -0.2},
        xaxis_title=None,
        yaxis_title="adoption" if percent else "people",
        hovermode="x unified",
    )
    fig.update_yaxes(rangemode="tozero", **({"tickformat": ".0%"} if percent else {}))
    shown = "%{y:.1%}" if percent else "%{y:,}"
    fig.update_traces(hovertemplate=f"%{{fullData.name}}: {shown}<extra></extra>")
    for trace in fig.data:
        if trace.name == dashed:
            trace.update(line={"dash": "dash"})
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


def rate_lines(
    frame: pd.DataFrame, *, group: str, title: str, grain: str, overall: str
) -> go.Figure:
    """Acceptance rates per period, one line per ``group``; the ``overall`` line, which people
    read first, thick, dark and drawn over the others."""
    plot = frame.dropna(subset=["acceptance_rate"]).copy()
    plot["acceptance_rate"] = plot["acceptance_rate"].astype(float)
    plot[group] = safe_labels(plot[group])
    fig = px.line(
        plot,
        x="period",
        y="acceptance_rate",
        color=group,
        markers=True,
        color_discrete_sequence=PALETTE,
    )
    fig.update_layout(
        title=title,
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"title": None, "orientation": "h", "y": -0.2},
        xaxis_title=None,
        yaxis_title="acceptance rate",
        hovermode="x unified",
    )
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_traces(
        hovertemplate="%{fullData.name}: %{y:.1%}<extra></extra>",
        line={"width": 1.5},
        opacity=0.6,
        marker={"size": 4},
    )
    for trace in fig.data:
        if trace.name == overall:
            trace.update(line={"width": 4, "color": "#333333"}, opacity=1, legendrank=1)
    fig.data = tuple(sorted(fig.data, key=lambda t: t.name == overall))
    return period_ticks(fig, list(frame["period"]), grain)


def rate_bars(frame: pd.DataFrame, *, group: str, title: str) -> go.Figure:
    """Acceptance rate per ``group`` as horizontal bars from 0 to 100%, the rate written in."""
    fig = totals_bars(
        frame.dropna(subset=["acceptance_rate"]),
        value="acceptance_rate",
        group=group,
        money=False,
        title=title,
    )
    fig.update_xaxes(title="acceptance rate", tickformat=".0%", range=[0, 1])
    fig.update_traces(
        hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        texttemplate="%{x:.1%}",
        textposition="inside",
        insidetextanchor="end",
    )
    return fig
