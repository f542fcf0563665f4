"""Every table on the pages: ``st.dataframe`` with its text cells made safe to display and to
download.

Streamlit's table toolbar offers "Download as CSV" of the raw cell text, quoting only commas,
quotes and LF (a bare CR splits the row) and never neutralising formulas; Streamlit 1.67 has no
per-table switch to turn it off (only the app-wide ``client.disableDataExport``, which also
takes copy to the clipboard away). So the cells themselves are made inert, which keeps the
table's search, sort, copy and download: bidirectional controls are removed, line breaks and
tabs become spaces (table cells show one line anyway), and text that would start a formula
gets a leading single quote, as in our own CSVs. Numbers, dates and booleans are untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from app.csv_writer import neutralise
from app.ui.format import plain

_CONTROLS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def display_text(value: str) -> str:
    """One text cell as shown (and as the toolbar's CSV download exports it)."""
    return neutralise(_CONTROLS.sub(" ", plain(value)))


def inert(data: Any) -> pd.DataFrame:
    """A copy of ``data`` as a DataFrame whose text cells are safe to display and export."""
    frame = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = [display_text(v) if isinstance(v, str) else v for v in frame[column]]
    return frame


def as_floats(frame: pd.DataFrame) -> pd.DataFrame:
    """Exact amounts (``Decimal``, None where unknown) as floats, which the table's number
    formats need: the table is the display edge, as the chart is; CSVs keep the Decimals."""
    for column in frame.columns:
        values = [v for v in frame[column] if v is not None]
        if frame[column].dtype == object and values and all(isinstance(v, Decimal) for v in values):
            frame[column] = [None if v is None else float(v) for v in frame[column]]
    return frame


# Dollar formats without thousands separators ("$1234.56"), as the "dollar" preset writes them:
# "$1,234.56", in the viewer's locale.
_PLAIN_DOLLARS = frozenset({"$%.2f", "$%.0f", "$%d"})


def with_separators(frame: pd.DataFrame, column_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The column configuration with thousands separators everywhere: a number column without
    a format is "localized" ("1,234,567"; Streamlit's default shows "1234567"), and a dollar
    format without separators becomes the "dollar" preset ("$1,234.56")."""
    config: dict[str, Any] = dict(column_config or {})
    for name, value in config.items():
        if isinstance(value, dict) and isinstance(value.get("type_config"), dict):
            type_config = value["type_config"]
            if type_config.get("type") == "number" and type_config.get("format") in _PLAIN_DOLLARS:
                config[name] = {**value, "type_config": {**type_config, "format": "dollar"}}
    for column in frame.columns:
        series = frame[column]
        if column in config or pd.api.types.is_bool_dtype(series):
            continue
        if pd.api.types.is_numeric_dtype(series):
            config[str(column)] = st.column_config.NumberColumn(format="localized")
    return config


def table(data: Any, *, column_config: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
    """``st.dataframe`` of inert cells, without the index (row numbers mean nothing here),
    numbers with thousands separators (``with_separators``)."""
    kwargs.setdefault("hide_index", True)
    frame = as_floats(inert(data))
    st.dataframe(frame, column_config=with_separators(frame, column_config), **kwargs)
