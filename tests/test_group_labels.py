"""Group labels of demo organizations (issue 15): beside a real organization a demo one is
marked "(demo)" wherever it is named, as a chart's or table's group by organization and after
its workspaces' names, as the filter options name it; with only demo organizations, unmarked."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, update
from sqlmodel import col

from app.db import write_session
from app.models import Organization
from app.reports.filters import Filters
from app.reports.options import filter_options
from app.reports.spend import spend_by_day
from app.reports.usage import usage_by_day
from tests.test_top_detail import DAY, store_rows

VIEW = Filters(DAY, DAY + timedelta(days=3), include_demo=True)


def make_demo(engine: Engine, *organization_ids: str) -> None:
    with write_session(engine) as session:
        session.execute(
            update(Organization)
            .where(col(Organization.organization_id).in_(organization_ids))
            .values(is_demo=True)
        )


def groups(engine: Engine, group: str) -> set[str]:
    return {label for _, label, _ in spend_by_day(engine, VIEW, group)}


def test_a_demo_organization_reads_as_demo_when_grouped_by_organization(engine: Engine) -> None:
    store_rows(engine)
    make_demo(engine, "org-top-0")
    assert groups(engine, "organization") == {"Top 0 (demo)", "Top 1"}
    assert {label for _, label, _ in usage_by_day(engine, VIEW, "organization")} == {
        "Top 0 (demo)",
        "Top 1",
    }
    # Its workspaces carry the name as marked, as the filter options name them, so a click on
    # a bar still finds its option.
    by_workspace = groups(engine, "workspace")
    assert "Alpha · Top 0 (demo)" in by_workspace
    assert "Beta · Top 1" in by_workspace
    options = dict(filter_options(engine)["workspaces"])
    assert {options["wrk_a1"], options["wrk_b2"]} == {"Alpha · Top 0 (demo)", "Beta · Top 1"}
    assert dict(filter_options(engine)["organizations"])["org-top-0"] == "Top 0 (demo)"


def test_only_demo_organizations_are_not_marked(engine: Engine) -> None:
    store_rows(engine)
    make_demo(engine, "org-top-0", "org-top-1")
    assert groups(engine, "organization") == {"Top 0", "Top 1"}
