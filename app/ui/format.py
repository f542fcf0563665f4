"""Formatting for people: money, ages, and API text made safe for Markdown."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from app.clock import utcnow
from app.models import OrgStatus

_Option = TypeVar("_Option", bound=str)

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$:&])")  # & too: Markdown decodes entities
# Bidirectional controls reorder what is displayed ("Trojan Source"): embeddings, overrides,
# isolates, the LTR/RTL marks and the Arabic letter mark.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")
# Streamlit's Markdown links bare URLs, "www." names and e-mail addresses even when every
# character is escaped (GFM autolinking runs on the parsed text), and turns ":material/…:" into
# an icon. A WORD JOINER (U+2060, invisible, zero width) after each colon, between "www" and
# its dot and before each "@" keeps them text.
_WORD_JOINER = "\u2060"
_AUTOLINK_STARTS = re.compile(r"(\\:|(?i:www)(?=\\\.)|(?=@))")


def shown_as(labels: Mapping[_Option, str]) -> Callable[[_Option], str]:
    """A widget's ``format_func`` showing each option by its label (the options are the
    labels' keys: strings, or members of a ``StrEnum``)."""
    return labels.__getitem__


def plain(text: object) -> str:
    """A name from the API as display text (tables, widget options, chart labels, st.text):
    without bidirectional controls, which could make it read as something else."""
    return _BIDI_CONTROLS.sub("", "" if text is None else str(text))


def md(text: str | None) -> str:
    """Names from the API are untrusted: as literal text for any Markdown (banners, toasts,
    captions, labels). Bidi controls go, line breaks become spaces (a name is one line, and a
    line break could start a Markdown block), Markdown specials are escaped, and nothing can
    become a link or an icon."""
    escaped = _MD_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", plain(text)))
    return _AUTOLINK_STARTS.sub(lambda m: m.group(1) + _WORD_JOINER, escaped)


def in_sentence(label: str) -> str:
    """A group's name inside a sentence: "Service tier" -> "service tier", "API key" stays."""
    first, _, rest = label.partition(" ")
    return label if first.isupper() else f"{first.lower()} {rest}".strip()


def money(usd: Decimal | float, *, cents: bool = True) -> str:
    value = Decimal(str(usd)) if not isinstance(usd, Decimal) else usd
    if not cents and abs(value) >= 1000:
        return f"${value:,.0f}"
    return f"${value:,.2f}"


def money_md(usd: Decimal | float) -> str:
    """An amount inside Markdown (captions, notices): its "$" kept literal, since two in one
    text would render what lies between them as math."""
    return money(usd).replace("$", r"\$")


def money_text(usd: float) -> str:
    """A dollar amount at the chart edge (a float already): "$1,234.56", "-$3.10"."""
    return f"-${-usd:,.2f}" if usd < 0 else f"${usd:,.2f}"


def thousands(count: float) -> str:
    """A count with thousands separators: 1234567 -> "1,234,567"."""
    return f"{count:,.0f}"


def compact(count: int) -> str:
    """12,345,678,901 -> '12.3B': big token counts that fit a metric tile."""
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(count) >= size:
            return f"{count / size:.1f}{suffix}"
    return str(count)


def ago(moment: datetime | None) -> str:
    """'updated 4 min ago' style ages."""
    if moment is None:
        return "never"
    seconds = max(0, int((utcnow() - moment).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


STATUS_LABELS: dict[str, str] = {
    OrgStatus.BACKFILLING: "Backfilling",
    OrgStatus.HEALTHY: "Healthy",
    OrgStatus.KEY_REJECTED: "Key rejected",
    OrgStatus.FAILING: "Failing",
}


def status_label(status: str, progress: float) -> str:
    label = STATUS_LABELS.get(status, status)
    if status == OrgStatus.BACKFILLING:
        label += f" {progress:.0%}"
    return label
