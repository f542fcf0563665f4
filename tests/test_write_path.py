"""The write path (``replace_days``) and the stored row count and day range it keeps page by
page: always what a full recount of the data table finds."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from app.anthropic.schemas import CostRow, UsageRow, dims_digest, extra_texts
from app.clock import today, utcnow
from app.datasets import spec_of
from app.db import read_session, write_session
from app.models import CostLine, Organization, SyncState, UsageBucket
from app.settings import Settings
from app.simulator import Simulator
from app.store import advance_stored_range, replace_days, replace_days_counted
from tests.utils.factories import connect_org, org_pk, sync_engine


def recount(engine: Engine, pk: int, dataset: str) -> tuple[int, date | None, date | None]:
    model = spec_of(dataset).table
    with read_session(engine) as session:
        count, first, last = session.execute(
            select(func.count(), func.min(model.date), func.max(model.date)).where(
                model.organization_pk == pk
            )
        ).one()
    return int(count), first, last


def kept(engine: Engine, pk: int, dataset: str) -> tuple[int, date | None, date | None]:
    with read_session(engine) as session:
        state = session.execute(
            select(SyncState).where(SyncState.organization_pk == pk, SyncState.dataset == dataset)
        ).scalar_one()
        return state.row_count, state.first_day, state.last_day


def test_kept_row_count_and_range_equal_a_recount_after_backfill_and_revision(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    for dataset in ("usage", "cost"):
        assert kept(engine, pk, dataset) == recount(engine, pk, dataset)
        assert recount(engine, pk, dataset)[0] > 500

    # Upstream rows change, vanish and appear in the last days: re-read and re-counted.
    sim.revise(org.id, days=3)
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    for dataset in ("usage", "cost"):
        assert kept(engine, pk, dataset) == recount(engine, pk, dataset)


def cost_row(day: date, workspace: str, cents: str) -> CostRow:
    dims: dict[str, str | None] = {"workspace_id": workspace, "description": "Tokens"}
    return CostRow(day, dims, Decimal(cents), "USD")


@pytest.fixture
def org(engine: Engine) -> int:
    with write_session(engine) as session:
        row = Organization(
            organization_id="org-w",
            name="W",
            key_ciphertext="x",
            key_hint="x",
            status="healthy",
            backfill_start=date(2026, 1, 1),
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def write(engine: Engine, pk: int, start: date, end: date, rows: list[CostRow]) -> None:
    """Replace days as the sync does: rows, then the kept count and range, in one transaction."""
    with write_session(engine) as session:
        state = session.execute(
            select(SyncState).where(SyncState.organization_pk == pk, SyncState.dataset == "cost")
        ).scalar_one_or_none() or SyncState(organization_pk=pk, dataset="cost")
        session.add(state)
        inserted, deleted = replace_days_counted(session, pk, "cost", start, end, rows)
        days = {r.day for r in rows}
        advance_stored_range(session, pk, state, start, end, days, inserted, deleted)


def test_kept_range_follows_emptied_boundary_days(engine: Engine, org: int) -> None:
    """Revisions that empty the first or last stored day, or everything: the kept range is
    what a recount finds, including when nothing new was written over the emptied days."""
    d = [date(2026, 3, 1) + timedelta(days=n) for n in range(10)]
    write(
        engine, org, d[2], d[8], [cost_row(day, f"w{i}", "1.5") for day in d[2:8] for i in range(3)]
    )
    assert kept(engine, org, "cost") == recount(engine, org, "cost") == (18, d[2], d[7])
    steps = [
        (d[7], d[8], []),  # the last day vanishes
        (d[2], d[3], []),  # the first day vanishes
        (d[0], d[1], [cost_row(d[0], "w0", "2")]),  # an earlier day appears
        (d[8], d[10 - 1], [cost_row(d[8], "w0", "2")]),  # a later day appears
        (d[3], d[6], [cost_row(d[4], "w9", "1")]),  # a middle stretch shrinks to one row
        (d[0], d[9], []),  # everything vanishes
    ]
    for start, end, rows in steps:
        write(engine, org, start, end, rows)
        assert kept(engine, org, "cost") == recount(engine, org, "cost"), (start, end)
    assert kept(engine, org, "cost") == (0, None, None)


def test_replace_days_stores_exact_cents_merged_by_key_in_batches(
    engine: Engine, org: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows with the same key are summed, cents stay exact, and a page larger than one insert
    batch is stored whole; usage rows with unknown fields keep them."""
    import app.store.bulk as bulk

    monkeypatch.setattr(bulk, "INSERT_BATCH", 7)
    day = today() - timedelta(days=3)
    rows = [cost_row(day, f"w{i % 20}", "0.000001") for i in range(50)]
    rows += [cost_row(day, "w0", "123.456789")]
    extra = {"account_id": None, "service_account_id": None}
    tokens = dict.fromkeys(("uncached_input_tokens", "output_tokens"), 2**40)
    usage = [
        UsageRow(day, {"api_key_id": f"k{i}", "model": "m"}, dict(tokens), dict(extra))
        for i in range(30)
    ]
    with write_session(engine) as session:
        assert replace_days(session, org, "cost", day, day + timedelta(days=1), rows) == 20
        assert replace_days(session, org, "usage", day, day + timedelta(days=1), usage) == 30
    with read_session(engine) as session:
        total = session.execute(select(func.sum(CostLine.amount_cents))).scalar_one()
        assert total == Decimal("123.456839")
        w0 = session.execute(select(CostLine).where(CostLine.workspace_id == "w0")).scalar_one()
        assert w0.amount_cents == Decimal("123.456792")
        assert w0.date == day
        stored = session.execute(select(UsageBucket).order_by(UsageBucket.api_key_id)).scalars()
        first = next(iter(stored))
        assert first.output_tokens == 2**40
        assert first.extra == '{"account_id": null, "service_account_id": null}'
        assert first.dims_key == dims_digest({"api_key_id": "k0", "model": "m"}, extra)


def test_extra_fields_digest_tells_equal_values_of_different_types_apart() -> None:
    """The memo of unknown fields' JSON never mixes up True and 1, or 0.0 and -0.0."""
    dims: dict[str, str | None] = {"model": "m"}
    digests = {dims_digest(dims, {"flag": value}) for value in (True, 1, 1.0, None, "1")}
    assert len(digests) == 5
    assert extra_texts({"x": 0.0}) != extra_texts({"x": -0.0})
    assert extra_texts({"x": 1})[0] == '{"x": 1}' and extra_texts({"x": True})[0] == '{"x": true}'
    nested = {"b": {"z": 1, "a": [1, 2]}, "a": None}
    assert extra_texts(nested) == (
        '{"a": null, "b": {"a": [1, 2], "z": 1}}',
        '{"a":null,"b":{"a":[1,2],"z":1}}',
    )
