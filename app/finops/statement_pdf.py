"""A chargeback statement as a printable PDF (fpdf2, pure Python; no browser).

One page per allocation value (its charges, then its adjustments of earlier months, then its
total), and a summary page of every value's total. Figures are the statement's exact cents
rounded to the cent once per figure; totals are summed exact and then rounded, as the CSV's
sum would be. Names are untrusted text: they are drawn as plain text (fpdf2's table cells do
not read markup unless asked), control characters are dropped, and without a Unicode font
they are reduced to Latin-1 with a visible replacement.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from app.finops.statements import ADJUSTMENT, CHARGE, MonthStatement, StatementRow, dollars

# Debian's DejaVu (fonts-dejavu-core): Unicode names drawn as they are. Without it, the core
# Helvetica font, which only has Latin-1.
UNICODE_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_HEADINGS = FontFace(fill_color=(225, 228, 235))


def _money(cents: Decimal) -> str:
    return f"{dollars(cents):,.2f}"


class _Writer:
    def __init__(self) -> None:
        self.pdf = FPDF(orientation="landscape", format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.unicode = UNICODE_FONT.is_file()
        if self.unicode:
            self.pdf.add_font("StatementSans", "", str(UNICODE_FONT))
            self.family = "StatementSans"
        else:
            self.family = "Helvetica"
        self.pdf.set_font(self.family, size=9)

    def text(self, value: str | None) -> str:
        """Untrusted text made safe to draw: no control characters; Latin-1 when no Unicode
        font is available (anything else shows as '?')."""
        cleaned = "".join(
            " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch
            for ch in (value or "")
        )
        if not self.unicode:
            cleaned = cleaned.encode("latin-1", "replace").decode("latin-1")
        return cleaned

    def line(self, text: str, *, size: float = 9) -> None:
        self.pdf.set_font(self.family, size=size)
        self.pdf.cell(w=0, h=size * 0.6, text=self.text(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font(self.family, size=9)

    def table(self, headings: list[str], rows: list[list[str]], widths: tuple[int, ...]) -> None:
        align = tuple(
            "RIGHT" if h.endswith("(USD)") or h == "Split share" else "LEFT" for h in headings
        )
        with self.pdf.table(
            col_widths=widths,
            text_align=align,
            headings_style=_HEADINGS,
            line_height=5,
            first_row_as_headings=True,
        ) as table:
            table.row(headings)
            for row in rows:
                table.row([self.text(cell) for cell in row])


def _header(writer: _Writer, statement: MonthStatement, title: str) -> None:
    writer.line(title, size=15)
    status = (
        "PROVISIONAL: the month is open; figures may still change"
        if statement.provisional
        else f"Closed {statement.closed_at:%Y-%m-%d %H:%M} UTC: these figures are final"
    )
    writer.line(f"Allocation {statement.allocation}, {statement.month:%B %Y}. {status}.")
    writer.pdf.ln(3)


def _charges(rows: list[StatementRow]) -> list[list[str]]:
    return [
        [
            r.organization_name,
            r.workspace_name,
            r.model or "(no model)",
            r.api_key_id or "",
            "" if r.share_percent is None else f"{r.share_percent.normalize():f}%",
            _money(r.amount_cents),
        ]
        for r in rows
    ]


def _kind_total(statement: MonthStatement, value: str, kind: str) -> Decimal:
    return sum(
        (r.amount_cents for r in statement.rows if r.value == value and r.kind == kind),
        Decimal(0),
    )


def statement_pdf(statement: MonthStatement) -> bytes:
    """The statement as PDF bytes: a page per value and a summary page."""
    writer = _Writer()
    pdf = writer.pdf
    pdf.set_title(
        writer.text(f"Chargeback statement {statement.allocation} {statement.month:%Y-%m}")
    )
    pdf.set_creator("Anthropic FinOps")
    for value in statement.values():
        pdf.add_page()
        _header(writer, statement, f"Chargeback statement: {value}")
        rows = [r for r in statement.rows if r.value == value]
        charges = [r for r in rows if r.kind == CHARGE]
        adjustments = [r for r in rows if r.kind == ADJUSTMENT]
        if charges:
            writer.table(
                ["Organization", "Workspace", "Model", "API key", "Split share", "Amount (USD)"],
                _charges(charges),
                (50, 55, 55, 45, 25, 35),
            )
        else:
            writer.line("No spend this month.")
        if adjustments:
            pdf.ln(4)
            writer.line("Adjustments: restated spend of closed months", size=11)
            writer.table(
                ["Corrects", "Organization", "Workspace", "Model", "Amount (USD)"],
                [
                    [
                        f"{r.for_month:%Y-%m}",
                        r.organization_name,
                        r.workspace_name,
                        r.model or "(no model)",
                        _money(r.amount_cents),
                    ]
                    for r in adjustments
                ],
                (25, 60, 65, 80, 35),
            )
        pdf.ln(4)
        writer.line(f"Total for {value}: USD {_money(statement.total_cents(value))}", size=12)
    pdf.add_page()
    _header(writer, statement, "Chargeback statement: summary")
    writer.table(
        ["Value", "Charges (USD)", "Adjustments (USD)", "Total (USD)"],
        [
            [
                value,
                _money(_kind_total(statement, value, CHARGE)),
                _money(_kind_total(statement, value, ADJUSTMENT)),
                _money(statement.total_cents(value)),
            ]
            for value in statement.values()
        ],
        (100, 55, 55, 55),
    )
    pdf.ln(4)
    writer.line(f"Total of the statement: USD {_money(statement.total_cents())}", size=12)
    return bytes(pdf.output())
