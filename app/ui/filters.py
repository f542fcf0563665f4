"""The filter bar: dates, organizations, workspaces, models, tiers, cost types, grouping.

Every choice is mirrored in the URL query string, so a view can be bookmarked and shared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import streamlit as st

from app.clock import today as utc_today
from app.reports.filters import Filters
from app.reports.labels import MODEL_IDS
from app.reports.options import model_ids_of
from app.reports.periods import GRAINS, month_start
from app.ui import state
from app.ui.demo import include_demo_choice
from app.ui.format import plain, shown_as

PRESETS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "mtd": "Month to date",
    "last_month": "Last month",
    "6m": "Last 6 months",
    "custom": "Custom",
}


def _shown_plain(names: Mapping[str, str]) -> Callable[[str], str]:
    """A ``format_func`` showing an option by its name as plain text, else as itself."""
    return lambda v: plain(names.get(v, v))


def preset_range(preset: str, today: date) -> tuple[date, date]:
    """``[start, end)`` of a preset; today (partial) is included where the preset reaches it."""
    tomorrow = today + timedelta(days=1)
    if preset == "7d":
        return today - timedelta(days=6), tomorrow
    if preset == "mtd":
        return month_start(today), tomorrow
    if preset == "last_month":
        first = month_start(today)
        return month_start(first - timedelta(days=1)), first
    if preset == "6m":
        return today - timedelta(days=182), tomorrow
    return today - timedelta(days=29), tomorrow


def date_range(prefix: str, today: date) -> tuple[date, date]:
    """The date preset (and custom dates) of a page with its own filters: ``[start, end)``."""
    preset = st.selectbox(
        "Date range",
        list(PRESETS),
        index=list(PRESETS).index("30d"),
        format_func=shown_as(PRESETS),
        key=prefix + "preset",
    )
    start, end = preset_range(preset, today)
    if preset == "custom":
        picked = st.date_input(
            "From – to (inclusive)", value=(start, today), max_value=today, key=prefix + "dates"
        )
        if isinstance(picked, tuple) and len(picked) == 2:
            start, end = picked[0], picked[1] + timedelta(days=1)
    return start, end


def grain_picker(prefix: str) -> str:
    """Day, week or month (day when nothing is selected)."""
    return (
        st.segmented_control(
            "Granularity",
            list(GRAINS),
            default="day",
            format_func=shown_as(GRAINS),
            key=prefix + "grain",
        )
        or "day"
    )


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


def _seed(
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


def filter_bar(*, page: str, groups: dict[str, str], cost_types: bool) -> View:
    """Render the filters in the sidebar and return what they select."""
    opts = state.options(state.database_key())
    today = utc_today()
    k = f"{page}_"
    labels = {kind: dict(values) for kind, values in opts.items()}
    _seed(k + "model_ids", "ids", "0", allowed=["0", "1"])
    if isinstance(st.session_state[k + "model_ids"], str):
        st.session_state[k + "model_ids"] = st.session_state[k + "model_ids"] == "1"
    show_ids = bool(st.session_state[k + "model_ids"])
    # Models by name (an alias and its dated ids are one choice) or by id.
    labels["models"] = labels["models"] if show_ids else labels["model_names"]
    _seed(k + "preset", "range", "30d", allowed=list(PRESETS))
    _seed(k + "group", "group", next(iter(groups)), allowed=list(groups))
    _seed(k + "grain", "grain", "day", allowed=list(GRAINS))
    for kind in (
        "providers",
        "organizations",
        "workspaces",
        "models",
        "service_tiers",
        "cost_types",
    ):
        _seed(k + kind, kind, [], many=True, allowed=list(labels[kind]))

    with st.sidebar:
        st.subheader("Filters")
        preset = st.selectbox(
            "Date range", list(PRESETS), format_func=shown_as(PRESETS), key=k + "preset"
        )
        start, end = preset_range(preset, today)
        if preset == "custom":
            _seed(k + "dates", "dates", None)
            low, high = st.query_params.get("from"), st.query_params.get("to")
            if st.session_state.get(k + "dates") is None:
                try:
                    st.session_state[k + "dates"] = (
                        (date.fromisoformat(low), date.fromisoformat(high))
                        if low and high
                        else (start, today)
                    )
                except ValueError:
                    st.session_state[k + "dates"] = (start, today)
            picked = st.date_input("From – to (inclusive)", key=k + "dates", max_value=today)
            if isinstance(picked, tuple) and len(picked) == 2:
                start, end = picked[0], picked[1] + timedelta(days=1)
        chosen: dict[str, list[str]] = {}
        for kind, title in (
            ("providers", "Providers"),
            ("organizations", "Organizations"),
            ("workspaces", "Workspaces"),
            ("models", "Models"),
            ("service_tiers", "Service tiers"),
        ):
            # With one provider or one organization there is nothing to choose.
            if kind in ("providers", "organizations") and len(labels[kind]) < 2:
                chosen[kind] = []
                continue
            # Options are names from the API: shown as plain text, without bidi controls.
            names = labels[kind]
            chosen[kind] = st.multiselect(
                title,
                list(names),
                format_func=_shown_plain(names),
                key=k + kind,
                placeholder="All",
            )
        if cost_types:
            chosen["cost_types"] = st.multiselect(
                "Cost types",
                list(labels["cost_types"]),
                format_func=_shown_plain(labels["cost_types"]),
                key=k + "cost_types",
                placeholder="All",
            )
        else:
            chosen["cost_types"] = []
        group = st.selectbox(
            "Group by", list(groups), format_func=shown_as(groups), key=k + "group"
        )
        grain = (
            st.segmented_control(
                "Granularity", list(GRAINS), format_func=shown_as(GRAINS), key=k + "grain"
            )
            or "day"
        )
        st.toggle(
            "Show model ids",
            key=k + "model_ids",
            on_change=_models_as_ids_or_names,
            args=(k, opts),
            help="Models by their API id (an alias and its dated ids apart), not by name.",
        )
        include_demo = include_demo_choice(k)

    params: dict[str, str | list[str]] = {"range": preset, "group": group, "grain": grain}
    if show_ids:
        params["ids"] = "1"
    if include_demo:
        params["demo"] = "1"  # else from_dict below would drop it from the address
    if preset == "custom":
        params["from"], params["to"] = start.isoformat(), (end - timedelta(days=1)).isoformat()
    for kind, values in chosen.items():
        if values:
            params[kind] = list(values)
    st.query_params.from_dict(params)  # updates the address bar; does not rerun
    filters = Filters(
        start=start,
        end=end,
        organizations=tuple(chosen["organizations"]),
        workspaces=tuple(chosen["workspaces"]),
        # A model chosen by name is every id of it.
        models=tuple(chosen["models"] if show_ids else model_ids_of(opts, chosen["models"])),
        service_tiers=tuple(chosen["service_tiers"]),
        cost_types=tuple(chosen["cost_types"]),
        providers=tuple(chosen["providers"]),
        include_demo=include_demo,
    )
    return View(filters, group, grain, show_ids)


def _models_as_ids_or_names(k: str, opts: dict[str, list[tuple[str, str]]]) -> None:
    """Keep the chosen models when "Show model ids" flips: a model becomes its ids, ids
    become their models."""
    chosen = list(st.session_state.get(k + "models", []))
    if st.session_state[k + "model_ids"]:
        st.session_state[k + "models"] = model_ids_of(opts, chosen)
    else:
        families = dict(opts.get("model_families", []))
        st.session_state[k + "models"] = list(dict.fromkeys(families.get(m, m) for m in chosen))
