"""A chart's table as its CSV download: the exact numbers it shows."""

from __future__ import annotations

import pandas as pd

from app.csv_writer import csv_bytes


def to_csv(frame: pd.DataFrame) -> bytes:
    """The exact numbers of a chart as CSV: Decimal amounts as plain decimals, dates as ISO
    dates, and names from the API neutralised against spreadsheet formulas (by the one CSV
    writer, which quotes per RFC 4180)."""
    rows = frame.itertuples(index=False, name=None)
    return csv_bytes([str(c) for c in frame.columns], rows)
