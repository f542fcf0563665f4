"""The one CSV writer: every CSV this product offers (``finops export``, each chart's download,
the tables' downloads, the audit log) goes through it.

Two rules, so a file opened in a spreadsheet shows names and never runs them:

- Quoting per RFC 4180: a field holding a comma, a double quote, CR or LF is quoted (Python's
  ``csv`` module with ``lineterminator="\\n"`` leaves a bare CR unquoted, and a spreadsheet
  starts a new row there). Lines end in LF, as before.
- Text is neutralised per OWASP's CSV injection guidance: a cell that starts with ``= + - @``,
  tab or CR (after leading spaces), and any line inside a cell that does, gets a single quote in
  front. Numbers the product computes itself (amounts, token counts) are not text: they are
  written by type, as plain decimals, so a credit stays ``-1.5``.

Only ``str`` values are untrusted text; ``Decimal``, ``int`` and ``float`` are numbers, dates
are ISO dates. Callers pass numbers as numbers, never preformatted. Bidirectional-control
characters in names are kept: a CSV is data, and the spreadsheet shows them as they are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from numbers import Integral, Real
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_LINES = re.compile(r"(\r\n|\r|\n)")
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def neutralise(text: str | None) -> str:
    """Untrusted text as an inert cell: a quote before the cell, and before each line in it,
    that would start a formula."""
    if not text:
        return ""
    parts = _LINES.split(text)  # lines at even positions, their line breaks between them
    for i in range(0, len(parts), 2):
        # The cell's own start counts a leading CR too; a later line starts after its break.
        start = text if i == 0 else parts[i]
        if start.lstrip(" ").startswith(FORMULA_STARTS):
            parts[i] = "'" + parts[i]
    return "".join(parts)


def plain_decimal(value: Decimal) -> str:
    """An exact decimal without exponent or trailing zeros: ``-1.50`` -> ``-1.5``."""
    return format(value.normalize(), "f") if value else "0"


def cell(value: Any) -> str:
    """One value as CSV text (before quoting): numbers by type, text neutralised."""
    if value is None or _is_missing(value):
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy's bool too
        return str(bool(value))
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return repr(float(value))
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return neutralise(str(value))  # anything else is shown as its text: untrusted


def _is_missing(value: Any) -> bool:
    """NaN, and pandas' NA and NaT (checked by name: no pandas import here)."""
    if type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, Decimal):
        return value.is_nan()
    return isinstance(value, float) and math.isnan(value)


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text


def line(values: Iterable[Any]) -> str:
    """One CSV record, LF-terminated."""
    return ",".join(_quoted(cell(v)) for v in values) + "\n"


def write_csv(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a header and rows to ``out``; returns the number of data rows."""
    out.write(line(header))
    count = 0
    for row in rows:
        out.write(line(row))
        count += 1
    return count


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The CSV as UTF-8 bytes, for a download button."""
    return "".join([line(header), *(line(row) for row in rows)]).encode("utf-8")
