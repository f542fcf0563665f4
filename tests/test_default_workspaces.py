"""One organization's default workspace as a filter (issue 15): with several organizations,
"Default workspace · Top 1" is a choice of its own and filters to that organization's null
workspace alone, on every path (detail rows, both databases), beside chosen workspace ids."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine

from app.reports.filters import Filters, uses_rollups
from app.reports.labels import TOKEN_TYPES
from app.reports.options import filter_options, split_workspaces
from app.reports.spend import spend_by_day, total_cents
from app.reports.usage import usage_by_day
from tests.test_top_detail import DAY, ROWS, store_rows

VIEW = Filters(DAY, DAY + timedelta(days=3))


def cents(org: int | None = None, workspace: str | None = None) -> Decimal:
    """ROWS' cents of ``org``'s default workspace, or of ``workspace`` (as stored: a row of
    cents carries 0.000125 more)."""
    return sum(
        (
            Decimal(c) + (Decimal("0.000125") if c else 0)
            for o, _, ws, _, _, _, c in ROWS
            if (ws is None and o == org) or (workspace is not None and ws == workspace)
        ),
        Decimal(0),
    )


def test_one_organization_s_default_workspace_filters_to_it_alone(engine: Engine) -> None:
    store_rows(engine)
    options = filter_options(engine)
    assert dict(options["workspaces"])[""] == "Default workspace (every organization)"
    assert options["default_workspaces"] == [
        ("default:org-top-0", "Default workspace · Top 0"),
        ("default:org-top-1", "Default workspace · Top 1"),
    ]
    # What the filter bar makes of the choices.
    assert split_workspaces(options, ["wrk_b1", "default:org-top-1", ""]) == (
        ("wrk_b1", ""),
        ("org-top-1",),
    )

    one = Filters(VIEW.start, VIEW.end, default_workspaces=("org-top-1",))
    assert not uses_rollups(one)
    assert total_cents(engine, one) == cents(org=1) > 0
    assert total_cents(
        engine, Filters(VIEW.start, VIEW.end, default_workspaces=("org-top-0",))
    ) == (cents(org=0))
    by_workspace = {label for _, label, _ in spend_by_day(engine, one, "workspace")}
    assert by_workspace == {"Default workspace"}  # Top 1's alone, named without it
    # Beside a workspace id: either.
    both = Filters(VIEW.start, VIEW.end, workspaces=("wrk_a1",), default_workspaces=("org-top-1",))
    assert total_cents(engine, both) == cents(org=1, workspace="wrk_a1")
    # Usage too: Top 1's default workspace has its one row's tokens.
    tokens = sum(
        sum(v[t] for t in TOKEN_TYPES) for _, _, v in usage_by_day(engine, one, "workspace")
    )
    assert tokens == 5 * 1000 + 5 % 7 + 5 * 3 + 5


def test_with_one_default_workspace_its_choice_reads_as_the_charts_name_it(
    engine: Engine,
) -> None:
    from sqlalchemy import delete

    from app.db import write_session
    from app.models import DimensionValue
    from tests.utils.factories import org_pk

    store_rows(engine)
    pk = org_pk(engine, "org-top-1")
    with write_session(engine) as session:
        session.execute(
            delete(DimensionValue).where(
                DimensionValue.organization_pk == pk,
                DimensionValue.kind == "workspace",
                DimensionValue.value == "",
            )
        )
    options = filter_options(engine)
    assert dict(options["workspaces"])[""] == "Default workspace · Top 0"
    assert options["default_workspaces"] == []
