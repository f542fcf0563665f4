"""The filter bar at the top of a page: dates, grouping and grain in one row, the other filters
under "Filters", and the active ones as chips that remove themselves when clicked.

Every choice is mirrored in the URL query string, so a view can be bookmarked and shared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import streamlit as st

from app import clock
from app.reports.filters import Filters
from app.reports.labels import MODEL_IDS, allocation_group, allocation_of
from app.reports.options import model_ids_of, split_workspaces
from app.reports.periods import GRAINS, month_start
from app.services.organizations import OrgSummary
from app.ui import state
from app.ui.charts import Drill, partial_periods, period_label, register_view
from app.ui.demo import LABEL as DEMO_LABEL
from app.ui.demo import include_demo_choice
from app.ui.format import md, plain, shown_as

PRESETS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "mtd": "Month to date",
    "last_month": "Last month",
    "6m": "Last 6 months",
    "custom": "Custom",
}
SIX_MONTHS_DAYS = 182

# The Spend and Usage filters: (kind, title); kind is the widget key's tail and the URL param.
FILTER_KINDS = (
    ("providers", "Providers"),
    ("organizations", "Organizations"),
    ("workspaces", "Workspaces"),
    ("models", "Models"),
    ("service_tiers", "Service tiers"),
    ("cost_types", "Cost types"),
    # Spend of chosen keys is their per-key cost (the cost report has no key).
    ("api_keys", "API keys"),
    ("actors", "Actors"),
)
# The groups a click on a chart can filter to, and the filter each one sets.
DRILLABLE = {
    "model": "models",
    MODEL_IDS: "models",
    "workspace": "workspaces",
    "service_tier": "service_tiers",
    "cost_type": "cost_types",
    "organization": "organizations",
    "provider": "providers",
}


def _shown_plain(names: Mapping[str, str]) -> Callable[[str], str]:
    """A ``format_func`` showing an option by its name as plain text, else as itself."""
    return lambda v: plain(names.get(v, v))


def first_data_day(organizations: Sequence[OrgSummary]) -> date | None:
    """The first imported day of these organizations (None before any data)."""
    starts = [o.data_start for o in organizations if o.data_start is not None]
    return min(starts) if starts else None


def preset_range(preset: str, today: date, first_day: date | None = None) -> tuple[date, date]:
    """``[start, end)`` of a preset; today (partial) is included where the preset reaches it.
    "Last 6 months" starts on ``first_day``, the first imported day, when the data starts
    later (no months of empty bars before it)."""
    tomorrow = today + timedelta(days=1)
    if preset == "7d":
        return today - timedelta(days=6), tomorrow
    if preset == "mtd":
        return month_start(today), tomorrow
    if preset == "last_month":
        first = month_start(today)
        return month_start(first - timedelta(days=1)), first
    if preset == "6m":
        start = today - timedelta(days=SIX_MONTHS_DAYS)
        if first_day is not None and first_day > start:
            start = min(first_day, today)
        return start, tomorrow
    return today - timedelta(days=29), tomorrow


def reversed_range_message(first: date, last: date) -> str | None:
    """Why a custom range is refused: it ends before it starts (None when it is fine)."""
    if first <= last:
        return None
    return (
        f"The range ends ({last:%b %d, %Y}) before it starts ({first:%b %d, %Y}). "
        "Pick a start on or before the end."
    )


def partial_caption(start: date, end: date, grain: str, today: date) -> str | None:
    """The caption that says which week or month bars hold only part of their period."""
    marked = partial_periods(start, end, grain, today)
    if not marked:
        return None
    names = " and ".join(period_label(p, grain) for p in marked)
    verb = "is" if len(marked) == 1 else "are"
    return (
        f"{names} {verb} partial (only partly in the range, or not over yet): marked "
        "“(partial)” on the charts, their bars hold only those days."
    )


def seed_from_url(
    key: str,
    param: str,
    default: object,
    *,
    many: bool = False,
    allowed: Sequence[str] | None = None,
) -> None:
    """Initialise a widget's state from the URL once per session."""
    if key in st.session_state:
        return
    if many:
        values = [v for v in st.query_params.get_all(param) if allowed is None or v in allowed]
        st.session_state[key] = values
        return
    value = st.query_params.get(param)
    st.session_state[key] = (
        value if value is not None and (allowed is None or value in allowed) else default
    )


def _url_dates(today: date, default: tuple[date, date]) -> tuple[date, date]:
    """The custom range of the URL's ``from`` and ``to`` (kept reversed, so it is refused
    with a message rather than silently swapped), no later than today."""
    low, high = st.query_params.get("from"), st.query_params.get("to")
    try:
        if low and high:
            return min(date.fromisoformat(low), today), min(date.fromisoformat(high), today)
    except ValueError:
        pass
    return default


def preset_picker(k: str) -> str:
    """The "Date range" preset, seeded from the URL's ``range``."""
    seed_from_url(k + "preset", "range", "30d", allowed=list(PRESETS))
    return str(
        st.selectbox("Date range", list(PRESETS), format_func=shown_as(PRESETS), key=k + "preset")
    )


def custom_dates(k: str, today: date, default_start: date) -> tuple[date, date] | None:
    """The "From – to (inclusive)" dates of a custom range as ``[start, end)``, seeded from the
    URL's ``from`` and ``to``; None, with the reason shown, for a range that ends before it
    starts or is not finished being picked."""
    if st.session_state.get(k + "dates") is None:
        st.session_state[k + "dates"] = _url_dates(today, (default_start, today))
    picked = st.date_input("From – to (inclusive)", key=k + "dates", max_value=today)
    if not isinstance(picked, tuple) or len(picked) != 2:
        st.caption("Pick the last day of the range too.")
        return None
    first, last = picked
    refused = reversed_range_message(first, last)
    if refused is not None:
        st.error(refused, icon=":material/event_busy:")
        return None
    return first, last + timedelta(days=1)


def grain_segments(k: str) -> str:
    """Day, week or month (day when nothing is selected), seeded from the URL's ``grain``."""
    seed_from_url(k + "grain", "grain", "day", allowed=list(GRAINS))
    return (
        st.segmented_control(
            "Granularity", list(GRAINS), format_func=shown_as(GRAINS), key=k + "grain"
        )
        or "day"
    )


@dataclass(frozen=True)
class Chip:
    """One active filter as people read it; clicking it removes ``value`` from ``widget``
    (a multiselect's key), or unticks ``widget`` (a checkbox) when ``value`` is None."""

    widget: str
    value: str | None
    text: str  # plain text: "Model: Claude Sonnet 4.5" (names from the API, escaped on show)


def _remove(chip: Chip) -> None:
    if chip.value is None:
        st.session_state[chip.widget] = False
        return
    st.session_state[chip.widget] = [
        v for v in st.session_state.get(chip.widget, []) if v != chip.value
    ]


def _remove_all(chips: tuple[Chip, ...]) -> None:
    for chip in chips:
        _remove(chip)


def active_chips(k: str, chips: Sequence[Chip]) -> None:
    """The active filters as a row of chips: each click removes its filter."""
    if not chips:
        return
    with st.container(horizontal=True, gap="small", key=k + "chips"):
        for chip in chips:
            tag = hashlib.sha256(f"{chip.widget}\0{chip.value}".encode()).hexdigest()[:10]
            st.button(
                md(chip.text),  # names from the API: literal text, never Markdown
                key=f"{k}chip_{tag}",
                icon=":material/close:",
                help="Remove this filter",
                on_click=_remove,
                args=(chip,),
            )
        if len(chips) > 1:
            st.button(
                "Clear filters",
                key=k + "chip_clear",
                type="tertiary",
                on_click=_remove_all,
                args=(tuple(chips),),
            )


@dataclass(frozen=True)
class Span:
    """The days a page shows, ``[start, end)``; ``refused``: a custom range that cannot be used
    (reversed, or its last day not picked yet), said on the page, which then stops."""

    start: date
    end: date
    refused: bool


def span_bar(
    k: str,
    preset: str,
    grain: str,
    in_view: Sequence[OrgSummary],
    today: date,
    chips: Sequence[Chip],
) -> Span:
    """Under a page's top filter row: the custom dates (if chosen), the active filters as
    chips, a drill-down's note, and captions for a 6-month range that starts where the data
    does and for partial periods. "Last 6 months" starts on ``in_view``'s first imported day."""
    first_day = first_data_day(in_view)
    start, end = preset_range(preset, today, first_day)
    refused = False
    if preset == "custom":
        picked = custom_dates(k, today, start)
        refused = picked is None
        if picked is not None:
            start, end = picked
    active_chips(k, chips)
    note = st.session_state.pop(k + "drill_note", None)
    if note:
        st.info(note, icon=":material/ads_click:")
    if preset == "6m" and first_day is not None and start == first_day:
        st.caption(f"Data starts on {first_day:%b %d, %Y}: the last 6 months begin there.")
    partial = partial_caption(start, end, grain, today)
    if partial and not refused:
        st.caption(partial)
    return Span(start, end, refused)


def view_params(k: str, preset: str, grain: str) -> dict[str, str | list[str]]:
    """The URL of a page's date range and grain (the custom dates as ``from`` and ``to``); the
    page adds its own choices."""
    params: dict[str, str | list[str]] = {"range": preset, "grain": grain}
    if preset == "custom":
        dates = st.session_state.get(k + "dates")
        if isinstance(dates, tuple) and len(dates) == 2:
            params["from"], params["to"] = dates[0].isoformat(), dates[1].isoformat()
    return params


@dataclass(frozen=True)
class View:
    filters: Filters
    group: str
    grain: str
    show_ids: bool = False  # "Show model ids": models by id, not by name

    @property
    def report_group(self) -> str:
        """The group the reports add up by: models by id when the ids are asked for."""
        return MODEL_IDS if self.show_ids and self.group == "model" else self.group


def _in_view(
    organizations: Sequence[OrgSummary],
    chosen: Mapping[str, Sequence[str]],
    include_demo: bool,
) -> list[OrgSummary]:
    """The organizations the filters keep, as the SQL does (``demo_left_out``): the chosen
    ones (a chosen demo one too), else demo ones only if asked for or if no real one is
    connected; of the chosen providers."""
    if chosen.get("organizations"):
        orgs = [o for o in organizations if o.organization_id in chosen["organizations"]]
    else:
        real = [o for o in organizations if not o.is_demo]
        orgs = list(organizations) if include_demo or not real else real
    if chosen.get("providers"):
        orgs = [o for o in orgs if o.provider in chosen["providers"]]
    return orgs


def _drill(
    k: str,
    group: str,
    groups: Mapping[str, str],
    opts: Mapping[str, Sequence[tuple[str, str]]],
    labels: Mapping[str, Mapping[str, str]],
    shown: set[str],
    in_view: Sequence[OrgSummary],
    allocations: Mapping[str, Sequence[str]],
) -> Drill | None:
    """What a click on a bar of this grouping filters to (None: the group is no filter)."""
    name = allocation_of(group)
    if name is not None:
        values = allocations.get(name)
        if values is None:
            return None
        return Drill(
            groups[group], _allocation_key(k, name), tuple((v, v) for v in values), k + "drill_note"
        )
    kind = DRILLABLE.get(group)
    if kind is None or kind not in shown:
        return None
    # The charts name organizations as their filter does ("Demo Org (demo)" beside a real one).
    options = tuple(labels[kind].items())
    if kind != "workspaces":
        return Drill(groups[group], k + kind, options, k + "drill_note")
    return Drill(
        groups[group],
        k + kind,
        options,
        k + "drill_note",
        organizations=tuple(opts.get("workspace_organizations", ())),
        in_view=tuple(o.organization_id for o in in_view),
    )


def _allocation_key(k: str, name: str) -> str:
    """An allocation's filter widget key (its URL param is its group, ``allocation:Team``)."""
    return k + allocation_group(name)


def _seed_allocations(k: str, allocations: Mapping[str, Sequence[str]]) -> str | None:
    """Seed each allocation's filter from the URL; the allocation whose values are chosen
    (None: none). One at a time: allocations divide the spend by different rules, so a link
    naming two keeps the first."""
    picked: str | None = None
    for name, values in allocations.items():
        key = _allocation_key(k, name)
        seed_from_url(key, allocation_group(name), [], many=True, allowed=list(values))
        if not st.session_state.get(key):
            continue
        if picked is None:
            picked = name
        else:
            st.session_state[key] = []
    return picked


def _allocation_filters(
    k: str, allocations: Mapping[str, Sequence[str]], picked: str | None
) -> list[str]:
    """A multiselect per allocation ("Team"), in the Filters popover; the others are disabled
    while one has values chosen. Returns the chosen values."""
    chosen: list[str] = []
    for name, values in allocations.items():
        other = picked is not None and picked != name
        picks = st.multiselect(
            md(name),  # the user's name: literal text
            list(values),
            format_func=plain,
            key=_allocation_key(k, name),
            placeholder="All",
            disabled=other,
            help=(
                f"Clear the {plain(picked)} filter first: allocations divide the spend by "
                "different rules, so one filters at a time."
                if other
                else f"Spend allocated to these values by the {plain(name)} rules."
            ),
        )
        if name == picked:
            chosen = list(picks)
    return chosen


def filter_bar(
    *,
    page: str,
    groups: dict[str, str],
    cost_types: bool,
    allocations: Mapping[str, Sequence[str]] | None = None,
) -> View:
    """Render the filter bar at the top of the page and return what it selects.
    ``allocations`` (the Spend page's: name -> values) adds a filter per allocation."""
    opts = state.options(state.database_key())
    organizations = state.organizations()
    today = clock.today()  # read at the call: a test or the bench may pin the clock
    k = f"{page}_"
    labels = {kind: dict(values) for kind, values in opts.items()}
    seed_from_url(k + "model_ids", "ids", "0", allowed=["0", "1"])
    if isinstance(st.session_state[k + "model_ids"], str):
        st.session_state[k + "model_ids"] = st.session_state[k + "model_ids"] == "1"
    show_ids = bool(st.session_state[k + "model_ids"])
    # Models by name (an alias and its dated ids are one choice) or by id.
    labels["models"] = labels["models"] if show_ids else labels["model_names"]
    # One organization's default workspace, beside every organization's (several of them).
    every = labels["workspaces"] | labels.get("default_workspaces", {})
    labels["workspaces"] = dict(sorted(every.items(), key=lambda t: t[1].lower()))
    seed_from_url(k + "group", "group", next(iter(groups)), allowed=list(groups))
    for kind, _ in FILTER_KINDS:
        seed_from_url(k + kind, kind, [], many=True, allowed=list(labels[kind]))
    allocations = allocations or {}
    allocation = _seed_allocations(k, allocations)

    chosen: dict[str, list[str]] = {kind: [] for kind, _ in FILTER_KINDS}
    shown: set[str] = set()
    with st.container(key=k + "filter_bar"):
        row = st.columns([3, 3, 3, 2], vertical_alignment="bottom")
        with row[0]:
            preset = preset_picker(k)
        with row[1]:
            group = st.selectbox(
                "Group by", list(groups), format_func=shown_as(groups), key=k + "group"
            )
        with row[2]:
            grain = grain_segments(k)
        with row[3], st.popover("Filters", icon=":material/filter_list:", width="stretch"):
            for kind, title in FILTER_KINDS:
                if kind == "cost_types" and not cost_types:
                    continue
                # With one provider or one organization there is nothing to choose.
                if kind in ("providers", "organizations") and len(labels[kind]) < 2:
                    continue
                if not labels[kind]:  # no API keys yet (or only Claude Enterprise)
                    continue
                shown.add(kind)
                # Options are names from the API: shown as plain text, without bidi controls.
                names = labels[kind]
                chosen[kind] = st.multiselect(
                    title,
                    list(names),
                    format_func=_shown_plain(names),
                    key=k + kind,
                    placeholder="All",
                )
            allocated = _allocation_filters(k, allocations, allocation)
            st.toggle(
                "Show model ids",
                key=k + "model_ids",
                on_change=_models_as_ids_or_names,
                args=(k, opts),
                help="Models by their API id (an alias and its dated ids apart), not by name.",
            )
            include_demo = include_demo_choice(k)

        chips = [
            Chip(k + kind, value, f"{title.rstrip('s')}: {plain(labels[kind].get(value, value))}")
            for kind, title in FILTER_KINDS
            for value in chosen[kind]
        ]
        chips += [
            Chip(_allocation_key(k, allocation), value, f"{allocation}: {plain(value)}")
            for value in allocated
            if allocation is not None
        ]
        if include_demo:
            chips.append(Chip(k + "include_demo", None, DEMO_LABEL))
        in_view = _in_view(organizations, chosen, include_demo)
        span = span_bar(k, preset, grain, in_view, today, chips)
        start, end = span.start, span.end

    params = view_params(k, preset, grain)
    params["group"] = group
    if show_ids:
        params["ids"] = "1"
    if include_demo:
        params["demo"] = "1"  # else from_dict below would drop it from the address
    for kind, values in chosen.items():
        if values:
            params[kind] = list(values)
    if allocation is not None and allocated:
        params[allocation_group(allocation)] = list(allocated)
    st.query_params.from_dict(params)  # updates the address bar; does not rerun
    if span.refused:
        st.stop()
    workspaces, default_workspaces = split_workspaces(opts, chosen["workspaces"])
    filters = Filters(
        start=start,
        end=end,
        organizations=tuple(chosen["organizations"]),
        workspaces=workspaces,
        default_workspaces=default_workspaces,
        # A model chosen by name is every id of it.
        models=tuple(chosen["models"] if show_ids else model_ids_of(opts, chosen["models"])),
        service_tiers=tuple(chosen["service_tiers"]),
        cost_types=tuple(chosen["cost_types"]),
        providers=tuple(chosen["providers"]),
        include_demo=include_demo,
        allocation=allocation if allocated else None,
        allocation_values=tuple(allocated),
        api_keys=tuple(chosen["api_keys"]),
        actors=tuple(chosen["actors"]),
    )
    view = View(filters, group, grain, show_ids)
    drill = _drill(
        k,
        view.report_group,
        groups | {MODEL_IDS: groups.get("model", "")},
        opts,
        labels,
        shown,
        in_view,
        allocations,
    )
    register_view(start, end, grain, today, drill, chosen=(filters, show_ids))
    return view


def _models_as_ids_or_names(k: str, opts: dict[str, list[tuple[str, str]]]) -> None:
    """Keep the chosen models when "Show model ids" flips: a model becomes its ids, ids
    become their models."""
    chosen = list(st.session_state.get(k + "models", []))
    if st.session_state[k + "model_ids"]:
        st.session_state[k + "models"] = model_ids_of(opts, chosen)
    else:
        families = dict(opts.get("model_families", []))
        st.session_state[k + "models"] = list(dict.fromkeys(families.get(m, m) for m in chosen))
