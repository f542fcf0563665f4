"""Plotly charts and their CSV downloads. Floats appear only here, at the chart edge."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.reports.frames import to_csv
from app.reports.labels import ALL, ORG_SEPARATOR
from app.reports.periods import next_month, period_of
from app.ui.format import compact, md, money_text, plain, thousands

PALETTE = px.colors.qualitative.Safe + px.colors.qualitative.Pastel


def safe_labels(series: pd.Series) -> pd.Series:
    """Plotly renders a few HTML tags inside labels; names from the API are plain text, and
    lose their bidi controls as everywhere else they are shown."""
    return series.map(safe_label)


def safe_label(value: object) -> str:
    """One label as ``safe_labels`` shows it."""
    return html.escape(plain(value), quote=False)


def period_ticks(
    fig: go.Figure, periods: Sequence[date], grain: str, partial: Sequence[date] = ()
) -> go.Figure:
    """One tick per week or month, on the day the period starts (Plotly's own ticks fall on
    Sundays or mid-month, which reads as the wrong period); a ``partial`` period (only partly
    in the range, or not finished) is labelled "Dec 2026 (partial)"."""
    if grain != "day" and periods:
        every = sorted({_as_date(p) for p in periods})
        shown = every[:: max(1, len(every) // 10)]
        marked = set(partial)
        fig.update_xaxes(
            tickmode="array",
            tickvals=shown,
            ticktext=[period_label(p, grain, partial=p in marked) for p in shown],
        )
    return fig


def _as_date(value: object) -> date:
    """A period as Plotly holds it (a date, a Timestamp or an ISO string) as a date."""
    if isinstance(value, pd.Timestamp):
        day: date = value.date()
        return day
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def period_label(period: date, grain: str | None, *, partial: bool = False) -> str:
    """A period as people read it: "Dec 01, 2026", "Week of Nov 30, 2026", "Dec 2026"; a
    partial one "Dec 2026 (partial)"."""
    if grain == "month":
        text = f"{period:%b %Y}"
    elif grain == "week":
        text = f"Week of {period:%b %d, %Y}"
    else:
        text = f"{period:%b %d, %Y}"
    return f"{text} (partial)" if partial else text


def partial_periods(start: date, end: date, grain: str, today: date) -> list[date]:
    """The week or month periods of ``[start, end)`` only partly inside it, or not finished
    (the one holding today): their bars are not a whole period's."""
    if grain not in ("week", "month") or start >= end:
        return []

    def period_end(first: date) -> date:
        return next_month(first) if grain == "month" else first + timedelta(days=7)

    marked = []
    for first in sorted({period_of(start, grain), period_of(end - timedelta(days=1), grain)}):
        if first < start or period_end(first) > end or period_end(first) > today:
            marked.append(first)
    return marked


# The "Other (N …)" group of the smaller ones: grey, and last, so it never reads as one of them.
OTHER_COLOUR = "#b8b8b8"


def _amounts(values: pd.Series, *, money: bool, unit: str) -> list[str]:
    """Hover text of amounts: dollars with cents, tokens in K/M/B, other counts in full."""
    if money:
        return [money_text(v) for v in values]
    if unit == "tokens":
        return [compact(round(v)) for v in values]
    return [thousands(v) for v in values]


def money_axis(fig: go.Figure, axis: str) -> None:
    """Dollars on a value axis: thousands separated, no cents on round ticks ("$1,200")."""
    update = fig.update_yaxes if axis == "y" else fig.update_xaxes
    update(tickprefix="$", tickformat=",~f")


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
    ``value_title`` names the value axis (default: USD, or ``unit``). Each bar's hover names its
    group, its period and amount, and the period's total (tokens in K/M/B, dollars with
    cents); ``fig.layout.meta`` says which group each trace is, for the drill-down."""
    plot = frame.copy()
    plot[value] = plot[value].astype(float)
    plot[group] = safe_labels(plot[group])
    names = list(dict.fromkeys(plot[group]))
    folded = [n for n in names if other is not None and n == safe_label(other)]
    totals = plot.groupby("period")[value].transform("sum")
    counted = unit if value_title is None else value_title  # "sessions", "lines": in full
    plot["_amount"] = _amounts(plot[value], money=money, unit=counted)
    plot["_total"] = _amounts(totals, money=money, unit=counted)
    plot["_period"] = [period_label(_as_date(p), grain) for p in plot["period"]]
    fig = px.bar(
        plot,
        x="period",
        y=value,
        color=group,
        color_discrete_sequence=PALETTE,
        category_orders={group: [n for n in names if n not in folded] + folded},
        color_discrete_map=dict.fromkeys(folded, OTHER_COLOUR),
        custom_data=["_amount", "_total", "_period"],
    )
    fig.update_layout(
        barmode="stack",
        title=safe_label(title),  # may hold an allocation's name: plain text
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"title": None, "orientation": "h", "y": -0.2},
        xaxis_title=None,
        yaxis_title="USD" if money else unit,
        # One bar's own hover (its period's total in it): a click then picks one group.
        hovermode="x unified" if grouped else "closest",
        # Nothing from the API in here: the spec reaches the browser unescaped.
        meta={"group": group, "other": None if other is None else safe_label(other), "x": "period"},
    )
    with_total = "" if grouped else "<br>Total: %{customdata[1]}"
    fig.update_traces(
        hovertemplate=(
            "<b>%{fullData.name}</b><br>%{customdata[2]}: %{customdata[0]}"
            f"{with_total}<extra></extra>"
        )
        if not grouped
        else "%{fullData.name}: %{customdata[0]}<extra></extra>"
    )
    if money:
        money_axis(fig, "y")
    if not legend:
        fig.update_layout(showlegend=False)
    if value_title is not None:
        fig.update_layout(yaxis_title=value_title)
    if grouped:
        fig.update_layout(barmode="group")
    if grain is not None:
        period_ticks(fig, list(frame["period"]), grain)
    return fig


def overlay_previous(
    fig: go.Figure,
    previous: pd.DataFrame,
    *,
    value: str,
    shown: Sequence[date],
    before: Sequence[date],
    name: str,
    money: bool,
    grain: str,
    unit: str = "tokens",
) -> None:
    """Draw the previous period's total per period (``previous``: period and ``value``) as a
    dashed line over the bars: its i-th period (``before``) over the view's i-th (``shown``),
    a day over a day, a month over a month. Its hover names the period it really is. The line
    is no group: a click on it filters nothing."""
    totals = previous.groupby("period")[value].sum() if not previous.empty else pd.Series()
    sums = {_as_date(p): float(v) for p, v in totals.items()}
    pairs = list(zip(shown, before, strict=False))
    ys = [sums.get(then, 0.0) for _, then in pairs]
    fig.add_trace(
        go.Scatter(
            x=[now for now, _ in pairs],
            y=ys,
            name=name,
            mode="lines+markers",
            line={"dash": "dash", "color": OTHER_COLOUR, "width": 2},
            marker={"size": 5},
            customdata=[
                [period_label(then, grain), amount]
                for (_, then), amount in zip(
                    pairs, _amounts(pd.Series(ys), money=money, unit=unit), strict=True
                )
            ],
            hovertemplate="<b>%{fullData.name}</b><br>%{customdata[0]}: %{customdata[1]}"
            "<extra></extra>",
        )
    )
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    meta["not_groups"] = [*meta.get("not_groups", []), safe_label(name)]
    fig.update_layout(meta=meta)


def one_series_bars(
    frame: pd.DataFrame, *, value: str, group: str, title: str, unit: str
) -> go.Figure:
    """Bars per period of one series, "All", in the legend under ``group`` as the page's other
    charts by group."""
    fig = stacked_bars(
        frame.assign(**{group: ALL})[["period", group, value]],
        value=value,
        group=group,
        money=False,
        unit=unit,
        title=safe_label(title),  # may hold an allocation's name: plain text
    )
    fig.layout.meta["group"] = None  # one series: nothing to drill into
    return fig


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
    unit = "tokens" if value_title is None or value_title == "tokens" else value_title
    plot["_amount"] = _amounts(plot[value], money=money, unit=unit)
    fig = px.bar(
        plot,
        x=value,
        y=group,
        orientation="h",
        color_discrete_sequence=PALETTE[:1],
        custom_data=["_amount"],
    )
    fig.update_layout(
        title=safe_label(title),  # may hold an allocation's name: plain text
        height=max(220, 34 * len(plot) + 90),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis_title="USD" if money else "tokens",
        yaxis_title=None,
        meta={"group": group, "by_point": True},
    )
    fig.update_traces(hovertemplate="%{y}: %{customdata[0]}<extra></extra>")
    if money:
        money_axis(fig, "x")
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
        title=safe_label(title),  # may hold an allocation's name: plain text
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


@dataclass(frozen=True)
class Drill:
    """What a click on a bar of the page's ``group`` charts does: sets the filter whose
    multiselect has the key ``widget`` to the clicked group's value. ``options`` are the
    filter's (value, label) choices, labelled as the charts label them; ``note`` is the key
    of the message a click that filters nothing leaves for the filter bar. For workspaces,
    ``organizations`` holds each choice's (value, organization id) and ``in_view`` the
    organizations whose data the view shows, so a workspace named without its organization is
    found in the one organization it is of."""

    group: str
    widget: str
    options: tuple[tuple[str, str], ...]
    note: str
    organizations: tuple[tuple[str, str], ...] = ()
    in_view: tuple[str, ...] = ()

    def values_of(self, label: str, names: Sequence[str] = ()) -> list[str]:
        """The filter values of a chart's group label: the choice of that label; for a
        workspace shown without its organization (one organization in view), the choice of
        that name in the organization shown ("Production · Acme Corp", not Globex's
        "Production"). ``names``: every group label of the chart. None of them for "Other
        (N …)" or a label of null ("Claude Enterprise (not by token type)"), which are no
        value of the filter."""
        shown = plain(label)
        exact = [v for v, name in self.options if plain(name) == shown]
        if exact or not self.widget.endswith("_workspaces"):
            return exact
        return self._of_one_organization(
            [v for v in self._named(shown) if v], [plain(n) for n in names if plain(n) != shown]
        )

    def _named(self, shown: str) -> list[str]:
        """The choices of a workspace name, in any organization."""
        return [v for v, name in self.options if plain(name).startswith(shown + ORG_SEPARATOR)]

    def _of_one_organization(self, values: list[str], others: list[str]) -> list[str]:
        """``values`` (one name's choices in several organizations) narrowed to the one
        organization a chart naming workspaces without their organization shows: those in
        view, then those that have every other workspace the chart names too."""
        org_of = dict(self.organizations)
        if not org_of:
            return values
        in_view = [v for v in values if org_of.get(v) in self.in_view]
        values = in_view or values
        orgs = {org_of.get(v) for v in values}
        if len(orgs) < 2:
            return values
        # A chart names workspaces bare only when they are all of one organization: the one
        # that has each of its other workspace names ("Other (N …)", null labels are none).
        named = [{org_of[v] for v in self._named(n) if v in org_of} for n in others]
        fits = orgs.intersection(*[n for n in named if n])
        return [v for v in values if org_of.get(v) in fits] or values


@dataclass
class PageView:
    """The range and grain a page's charts show, registered by its filter bar for this page
    (``register_view``): the charts then mark partial periods and, with ``drill``, filter on a
    click."""

    page: str
    start: date
    end: date
    grain: str
    today: date
    drill: Drill | None = None
    chosen: str = ""  # the filters as chosen, so a chart's selection starts afresh with them
    others: set[str] = field(default_factory=set)

    @property
    def partial(self) -> list[date]:
        return partial_periods(self.start, self.end, self.grain, self.today)

    @property
    def digest(self) -> str:
        """Changes with the view, so a chart's click selection starts afresh in a new one."""
        seen = repr((self.start, self.end, self.grain, self.chosen))
        return hashlib.sha256(seen.encode()).hexdigest()[:8]


_VIEW_KEY = "_chart_view"


def _page_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.page_script_hash if ctx is not None else ""


def register_view(
    start: date,
    end: date,
    grain: str,
    today: date,
    drill: Drill | None = None,
    chosen: object = None,
) -> PageView:
    """Tell this page's charts (``chart_with_csv``, later in the same run) the range and grain
    they show, which filter a click on a bar sets, and what is ``chosen`` (any repr-able
    value: the filters)."""
    view = PageView(_page_id(), start, end, grain, today, drill, repr(chosen))
    st.session_state[_VIEW_KEY] = view
    return view


def current_view() -> PageView | None:
    """The view the filter bar of this page registered (None on a page without one)."""
    view = st.session_state.get(_VIEW_KEY)
    return view if isinstance(view, PageView) and view.page == _page_id() else None


def _mark_periods(fig: go.Figure, view: PageView) -> None:
    """Week and month bars read as their period ("Week of Nov 30, 2026"); a partial one is
    marked on its tick and in its hover ("Dec 2026 (partial)")."""
    if view.grain == "day":
        return
    partial = set(view.partial)
    periods: list[date] = []
    for trace in fig.data:
        if trace.x is None or trace.customdata is None:
            continue
        days = [_as_date(x) for x in trace.x]
        periods += days
        trace.customdata = [
            [*row[:2], period_label(d, view.grain, partial=d in partial), *row[3:]]
            for row, d in zip(trace.customdata, days, strict=True)
        ]
    period_ticks(fig, periods, view.grain, sorted(partial))


def _drill_target(fig: go.Figure, view: PageView | None) -> Drill | None:
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    if view is None:
        return None
    if meta.get("other"):
        view.others.add(html.unescape(str(meta["other"])))
    drill = view.drill
    if drill is None or not meta.get("group") or meta["group"] != drill.group:
        return None
    return drill


def _group_names(fig: go.Figure) -> list[str]:
    """The group label of each trace (stacked bars) or each bar (a totals chart), as the
    report named it (the figure holds them HTML-escaped)."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    if meta.get("by_point"):
        return [html.unescape(str(y)) for y in (fig.data[0].y if fig.data else [])]
    return [html.unescape(str(t.name)) for t in fig.data]


def _clicked_labels(state: Any, meta: dict[str, Any], names: list[str]) -> list[str]:
    """The group labels of the clicked bars (a bar's trace is its group in a stacked chart,
    its row in a totals chart)."""
    try:
        points = state["selection"]["points"]
    except (KeyError, TypeError):
        return []
    labels = []
    not_groups = {html.unescape(str(n)) for n in meta.get("not_groups", [])}
    for point in points:
        index = point.get("point_index") if meta.get("by_point") else point.get("curve_number")
        if isinstance(index, int) and 0 <= index < len(names) and names[index] not in not_groups:
            labels.append(names[index])
    return list(dict.fromkeys(labels))


def _drilled(
    chart: str, drill: Drill, meta: dict[str, Any], names: list[str], others: frozenset[str]
) -> None:
    """A click on a bar: its group becomes the filter (shown as a chip, and in the URL); a
    group that is no value of the filter says why instead."""
    labels = _clicked_labels(st.session_state.get(chart), meta, names)
    if not labels:
        return
    values = [v for label in labels for v in drill.values_of(label, names)]
    if values:
        st.session_state[drill.widget] = list(dict.fromkeys(values))
        st.session_state.pop(drill.note, None)
        return
    label = labels[0]
    st.session_state[drill.note] = (
        f"“{md(label)}” adds up the smaller groups: it is not one value to filter by. "
        "Choose one in Filters, or narrow the range."
        if plain(label) in others
        else f"“{md(label)}” is not a value to filter by (it says why the value is empty); "
        "choose from Filters instead."
    )


def _legend_filtered(legend: str, drill: Drill, names: list[str]) -> None:
    """A group chosen under the chart (the legend's entries, which Plotly's own legend only
    hides or shows): it becomes the filter, as a click on its bar would."""
    label = st.session_state.get(legend)
    values = drill.values_of(label, names) if isinstance(label, str) else []
    if values:
        st.session_state[drill.widget] = list(dict.fromkeys(values))
        st.session_state.pop(drill.note, None)


def _legend_filter(chart: str, drill: Drill, names: list[str]) -> None:
    """The chart's groups in a list under it: choosing one filters to that group (Streamlit
    sends no event for a click on a Plotly legend entry). Groups that are no value of the
    filter ("Other (N …)", a label of null) are left out."""
    choices = [n for n in names if drill.values_of(n, names)]
    if len(choices) < 2:
        return
    st.selectbox(
        "Filter to a group",
        choices,
        index=None,
        placeholder="Choose one of the legend's groups…",
        key=f"{chart}_legend",
        format_func=plain,  # names are the API's: display text
        on_change=_legend_filtered,
        args=(f"{chart}_legend", drill, names),
        help="The same as a click on the group's bar: it becomes the filter.",
    )


def chart_with_csv(fig: go.Figure, frame: pd.DataFrame, *, file_name: str, key: str) -> None:
    """The chart, and a download of exactly the numbers it shows. On a page whose filter bar
    registered its view, week and month periods are named and partial ones marked, and a
    click on a bar of a group that is a filter filters to it."""
    view = current_view()
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    if view is not None and meta.get("x") == "period":
        _mark_periods(fig, view)
    drill = _drill_target(fig, view)
    config = {"displaylogo": False}
    if drill is None or view is None:
        st.plotly_chart(fig, key=f"chart_{key}", config=config)
    else:
        chart = f"chart_{key}_{view.digest}"
        st.plotly_chart(
            fig,
            key=chart,
            config=config,
            on_select=partial(
                _drilled, chart, drill, dict(meta), _group_names(fig), frozenset(view.others)
            ),
            selection_mode="points",
        )
        _legend_filter(chart, drill, _group_names(fig))
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
        title=safe_label(title),  # may hold an allocation's name: plain text
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
        title=safe_label(title),  # may hold an allocation's name: plain text
    )
    fig.update_xaxes(title="acceptance rate", tickformat=".0%", range=[0, 1])
    fig.update_traces(
        hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        texttemplate="%{x:.1%}",
        textposition="inside",
        insidetextanchor="end",
    )
    return fig
