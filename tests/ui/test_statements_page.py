"""The Statements page (AppTest): an allocation's statement of a month per value, its CSV and
PDF as `finops statements export` writes them, a provisional month said so, an admin's close
that locks it (a second close changes nothing), a viewer without the close, and the empty
state."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.clock import today
from app.finops.allocation import import_allocation
from app.finops.statements import close_month, month_statement, statement_csv
from app.services.access import OPERATOR
from app.services.audit import recent_events
from app.services.users import add_user, open_session
from tests.test_allocation_store import EXAMPLE, seed_orgs
from tests.ui.apptest import PASSWORD, csv_rows, texts

PAGE = "../pages/statements.py"
SEPTEMBER = date(2026, 9, 1)  # the seeded days run Sep 25 - Oct 6; the month has ended


def opened(app: AppTest, month: date = SEPTEMBER) -> AppTest:
    app.switch_page(PAGE).run()
    assert not app.exception
    app.selectbox(key="statements_month").set_value(month).run()
    assert not app.exception
    return app


def test_a_months_statement_per_value_with_its_csv_and_pdf(
    app: AppTest, engine: Engine, downloads: dict[str, bytes]
) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    opened(app)
    statement = month_statement(engine, "Team", SEPTEMBER)
    assert statement.provisional and statement.rows
    # The table: one row per value, each the statement's total for it.
    [frame] = [e.value for e in app.dataframe][:1]
    shown = dict(zip(frame["Value"], frame["Total (USD)"], strict=True))
    assert set(shown) == {"Search", "Support", "Unallocated"}
    for value, usd in shown.items():
        assert abs(Decimal(str(usd)) - statement.total_cents(value).scaleb(-2)) < Decimal("0.005")
    # The downloads are the CLI's: the same CSV bytes, and a PDF.
    assert downloads["statement_csv"] == statement_csv(statement)
    rows = csv_rows(downloads["statement_csv"])
    assert {r["status"] for r in rows} == {"provisional"}
    assert downloads["statement_pdf"].startswith(b"%PDF")
    assert "has ended but is not closed" in texts(app)


def test_an_admin_closes_an_ended_month_which_locks_it(app: AppTest, engine: Engine) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    opened(app)
    app.button(key="statements_close").click().run()
    assert not app.exception
    closed = month_statement(engine, "Team", SEPTEMBER)
    assert closed.closed_at is not None and closed.closed_by == "admin@example.com"
    assert "this statement is locked" in texts(app)
    assert not [b for b in app.button if b.key == "statements_close"]
    events = recent_events(engine, actor=OPERATOR, actions=("statement.closed",))
    assert [(e.actor, e.target) for e in events] == [("admin@example.com", "allocation Team")]
    # The current month cannot be closed: no button for it.
    opened(app, today().replace(day=1))
    assert not [b for b in app.button if b.key == "statements_close"]
    assert "still being billed" in texts(app)


def test_a_close_clicked_after_another_admin_closed_the_month_changes_nothing(
    app: AppTest, engine: Engine
) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    opened(app)
    close_month(engine, SEPTEMBER, actor="other@example.com")  # from another tab, or the CLI
    app.button(key="statements_close").click().run()
    assert not app.exception
    assert [t.value for t in app.toast] == ["September 2026 was closed already; nothing changed."]
    assert month_statement(engine, "Team", SEPTEMBER).closed_by == "other@example.com"
    assert "this statement is locked" in texts(app)


def test_a_viewer_reads_statements_but_cannot_close(app: AppTest, engine: Engine) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    viewer = add_user(
        engine, actor=OPERATOR, email="viewer@example.com", password=PASSWORD, role="viewer"
    )
    app.session_state["auth_token"] = open_session(engine, viewer, hours=1)
    opened(app)
    assert app.dataframe
    assert not [b for b in app.button if b.key == "statements_close"]
    assert "An administrator closes an ended month" in texts(app)


def test_without_allocations_the_page_says_how_to_add_one(app: AppTest) -> None:
    app.switch_page(PAGE).run()
    assert not app.exception
    assert "No allocations yet" in texts(app)
