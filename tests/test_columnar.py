"""The app's columnar copy (``app.columnar``) answers every filtered view exactly as the
database does, to the cent and the token; it is never read while it is behind the database
(after a sync's write, a deleted or a new organization, a change log that no longer reaches
back), catches up on its own, holds no key, and the change log it follows orders its versions
under parallel writers. SQLite and Postgres."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlmodel import col

from app import columnar
from app.anthropic.schemas import CostRow, UsageRow
from app.clock import today
from app.db import read_session, write_session
from app.models import ApiKey, CostLine, DataChange, DataVersion, Organization
from app.reports.economics import unit_economics
from app.reports.filters import Filters, uses_rollups
from app.reports.labels import ESTIMATE_SUFFIX, SPEND_GROUPS, USAGE_GROUPS
from app.reports.options import filter_options
from app.reports.spend import daily_totals, spend_by_day, total_cents, total_or_none
from app.reports.usage import usage_by_day, usage_counts
from app.services.access import Actor
from app.services.organizations import delete_organization
from app.settings import Settings
from app.simulator import Simulator
from app.store import replace_days
from app.store.key_estimate import estimate
from tests.utils.factories import connect_org, org_pk, sync_engine
from tests.utils.snapshots import synced_copy


@pytest.fixture
def copy(engine: Engine) -> Iterator[columnar.ColumnarCopy]:
    """The process's copy of ``engine``, as the app's pages attach it (its thread started)."""
    attached = columnar.attach(engine)
    assert attached is not None
    yield attached
    columnar.detach(engine)


def caught_up(copy: columnar.ColumnarCopy, timeout: float = 60) -> Engine:
    """The copy's engine once its own thread has caught up with the database."""
    deadline = time.monotonic() + timeout
    while (current := copy.current()) is None:
        assert copy.error is None, copy.error
        assert time.monotonic() < deadline, "the copy did not catch up"
        time.sleep(0.05)
    return current


def views(engine: Engine) -> list[Filters]:
    """Filtered views the rollups cannot answer (two dimensions chosen at once), over six
    months and the last week."""
    end = today() + timedelta(days=1)
    options = filter_options(engine)
    models = tuple(sorted(v for v, _ in options["models"] if v)[:3])
    tiers = tuple(v for v, _ in options["service_tiers"])  # "" (no tier) among them
    workspaces = tuple(sorted(v for v, _ in options["workspaces"])[:3])
    chosen = [
        Filters(end - timedelta(days=183), end, models=models, service_tiers=tiers),
        Filters(end - timedelta(days=183), end, workspaces=workspaces, models=models),
        Filters(end - timedelta(days=7), end, service_tiers=tiers[:1], cost_types=("tokens",)),
    ]
    assert not any(uses_rollups(f) for f in chosen)
    return chosen


def answers(engine: Engine, f: Filters) -> dict[str, Any]:
    """Everything the Spend and Usage pages read for ``f``: every grouping in full and folded
    to two groups plus "Other", the totals, the counts and unit economics."""
    out: dict[str, Any] = {}
    for top in (None, 2):
        for group in SPEND_GROUPS:
            out[f"spend {group} {top}"] = spend_by_day(engine, f, group, top)
        for group in (*USAGE_GROUPS, "token_type"):
            out[f"usage {group} {top}"] = usage_by_day(engine, f, group, top)
    out["total"] = total_or_none(engine, f)
    out["daily"] = daily_totals(engine, f)
    out["counts"] = usage_counts(engine, f)
    out["economics"] = repr(unit_economics(engine, f))
    return out


def from_the_database(
    copy: columnar.ColumnarCopy, read: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """What ``read`` returns with the copy out of the way (as the worker and CLI read)."""
    current = copy.current
    copy.current = lambda: None  # type: ignore[method-assign]
    try:
        return read()
    finally:
        copy.current = current  # type: ignore[method-assign]


def assert_same(engine: Engine, copy: columnar.ColumnarCopy) -> None:
    for f in views(engine):
        current = caught_up(copy)
        assert columnar.detail_engine(engine) is current
        through_copy = answers(engine, f)
        database = from_the_database(copy, lambda f=f: answers(engine, f))  # type: ignore[misc]
        for name, value in database.items():
            assert through_copy[name] == value, (name, f)
        assert database["total"], f  # the view has rows: equality means something


def test_unfiltered_unit_economics_read_the_copy_and_equal_the_rollups(
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    copy: columnar.ColumnarCopy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unit economics over six months, unfiltered: the copy's detail rows (when current) and
    the database's compound rollup give the same figures (a month reads the rollup, faster)."""
    from app.reports import economics

    synced_copy(sim, engine, settings)
    end = today() + timedelta(days=1)
    rolled = economics._token_cost_rolled, economics._usage_rolled

    def not_the_rollup(*_: object) -> None:
        raise AssertionError("read the rollup while the copy was current")

    f = Filters(end - timedelta(days=183), end)
    assert uses_rollups(f)
    current = caught_up(copy)
    assert columnar.detail_engine(engine) is current
    monkeypatch.setattr(economics, "_token_cost_rolled", not_the_rollup)
    monkeypatch.setattr(economics, "_usage_rolled", not_the_rollup)
    through_copy = repr(unit_economics(engine, f))
    monkeypatch.setattr(economics, "_token_cost_rolled", rolled[0])
    monkeypatch.setattr(economics, "_usage_rolled", rolled[1])
    from_rollups = from_the_database(copy, lambda: repr(unit_economics(engine, f)))
    assert through_copy == from_rollups
    assert "Claude" in through_copy  # models with figures, not an empty table


def test_unfiltered_usage_by_api_key_reads_the_copy_and_equals_the_rollup(
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    copy: columnar.ColumnarCopy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Usage by API key, unfiltered: summed from the copy's detail rows when it is current,
    the same as the database's rollup and running totals give, in full and folded."""
    from app.reports import top as top_module

    synced_copy(sim, engine, settings)
    end = today() + timedelta(days=1)
    f = Filters(end - timedelta(days=30), end)
    assert uses_rollups(f)
    caught_up(copy)
    expected = from_the_database(
        copy, lambda: {n: usage_by_day(engine, f, "api_key", n) for n in (None, 2, 12)}
    )
    real_scores = top_module._scores
    sources: list[Any] = []

    def scores(session: Any, source: Any) -> Any:
        sources.append(source.table)
        return real_scores(session, source)

    monkeypatch.setattr(top_module, "_scores", scores)
    for n in (None, 2, 12):
        assert usage_by_day(engine, f, "api_key", n) == expected[n], n
    assert sources and all(table.__tablename__ == "usage_bucket" for table in sources)
    assert len({label for _, label, _ in expected[None]}) > 2  # keys to fold


def copied_rows(copy: columnar.ColumnarCopy, org: int) -> int:
    with copy.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM cost_line WHERE organization_pk = :pk"), {"pk": org}
            ).scalar_one()
        )


def test_filtered_views_read_the_copy_and_equal_the_database(
    sim: Simulator, engine: Engine, settings: Settings, copy: columnar.ColumnarCopy
) -> None:
    ids = synced_copy(sim, engine, settings)
    assert_same(engine, copy)
    # The views really read the copy: rows taken out of it (behind its back) change them.
    first = org_pk(engine, ids[0])
    f = views(engine)[0]
    before = total_cents(engine, f)
    with copy.engine.begin() as conn:
        conn.execute(text("DELETE FROM cost_line WHERE organization_pk = :pk"), {"pk": first})
    assert total_cents(engine, f) < before
    # Names are the database's: the copy holds no directory, no key, no key's ciphertext.
    with copy.engine.connect() as conn:
        tables = {name for (name,) in conn.execute(text("SELECT table_name FROM duckdb_tables()"))}
        org_columns = [
            name
            for (name,) in conn.execute(
                text("SELECT column_name FROM duckdb_columns() WHERE table_name = 'organization'")
            )
        ]
    assert tables == {
        "organization",
        "cost_line",
        "usage_bucket",
        "key_cost_line",
        "key_cost_estimate",
    }
    assert sorted(org_columns) == sorted(columnar.ORG_COLUMNS)
    with read_session(engine) as session:
        ciphertexts = session.execute(select(col(Organization.key_ciphertext))).scalars().all()
    stored = b"".join(p.read_bytes() for p in copy.directory.iterdir() if p.is_file())
    assert ciphertexts and not any(c.encode()[:40] in stored for c in ciphertexts)


def test_the_copy_is_never_read_behind_the_database(
    sim: Simulator, engine: Engine, settings: Settings, copy: columnar.ColumnarCopy
) -> None:
    ids = synced_copy(sim, engine, settings)
    caught_up(copy)
    pk = org_pk(engine, ids[0])
    day = today() - timedelta(days=2)
    f = Filters(day, day + timedelta(days=1), models=("claude-test-1",), service_tiers=("x",))

    # A sync replaces a day: the copy is not read until it has the new rows.
    rewrite_day(engine, pk, day, Decimal("123.456789"))
    assert columnar.detail_engine(engine) is engine
    assert total_cents(engine, f) == Decimal("123.456789")
    caught_up(copy)
    assert total_cents(engine, f) == Decimal("123.456789")
    assert_same(engine, copy)

    # The change log no longer reaches back to the copy's version: the organization whole.
    rewrite_day(engine, pk, day, Decimal("7"))
    rewrite_day(engine, pk, day - timedelta(days=30), Decimal("8"))
    with write_session(engine) as session:
        session.execute(delete(DataChange).where(col(DataChange.organization_pk) == pk))
    caught_up(copy)
    assert total_cents(engine, f) == Decimal("7")
    assert total_cents(engine, replace(f, start=day - timedelta(days=30))) == Decimal("15")
    assert_same(engine, copy)

    # Versions below the copy's (a backup put back under the running app): read whole.
    with write_session(engine) as session:
        session.execute(
            DataVersion.__table__.update()  # type: ignore[attr-defined]
            .where(DataVersion.__table__.c.organization_pk == pk)  # type: ignore[attr-defined]
            .values(version=1)
        )
        session.execute(delete(CostLine).where(col(CostLine.organization_pk) == pk))
    caught_up(copy)
    assert copied_rows(copy, pk) == 0
    assert_same(engine, copy)
    rewrite_day(engine, pk, day, Decimal("9"))
    caught_up(copy)

    # A deleted organization's rows leave the copy.
    assert copied_rows(copy, pk) > 0
    assert delete_organization(
        engine=engine, organization_id=ids[0], actor=Actor("admin@example.com", "admin")
    )
    caught_up(copy)
    assert copied_rows(copy, pk) == 0
    assert_same(engine, copy)

    # A newly connected organization's backfill reaches the copy whole.
    new = sim.add_org(name="Newco", seed=33)
    connect_org(sim, new, engine=engine, settings=settings)
    new_pk = org_pk(engine, new.id)
    assert sync_engine(sim, engine, settings).run(new_pk).outcome == "ok"
    assert columnar.detail_engine(engine) is engine  # behind until it has Newco's rows
    caught_up(copy)
    assert copied_rows(copy, new_pk) > 0
    assert_same(engine, copy)


def test_spend_by_api_key_reads_the_copy_billed_and_estimated_alike(
    sim: Simulator, engine: Engine, settings: Settings, copy: columnar.ColumnarCopy
) -> None:
    """Spend by API key and by actor (the union of billed per-key cost and an estimate) reads
    the copy when it is current and gives what the database gives, names and "(estimate)"
    labels included; the copy follows the estimate as it is written and when it is dropped."""
    billed, estimated = list(sim.orgs)[:2]
    for org_id in (billed, estimated):
        connect_org(sim, sim.orgs[org_id], engine=engine, settings=settings)
    assert sync_engine(sim, engine, settings).run(org_pk(engine, billed)).outcome == "ok"
    sim.key_cost.refuse = 403
    estimated_pk = org_pk(engine, estimated)
    assert sync_engine(sim, engine, settings).run(estimated_pk).outcome == "ok"
    assert estimate(engine) > 0
    end = today() + timedelta(days=1)
    with read_session(engine) as session:
        key_names = dict(
            session.execute(
                select(col(ApiKey.api_key_id), col(ApiKey.name)).where(
                    col(ApiKey.organization_pk) == estimated_pk
                )
            ).all()
        )
    chosen = tuple(sorted(key_names)[:2])
    fs = [
        Filters(end - timedelta(days=30), end),
        Filters(end - timedelta(days=183), end),
        Filters(end - timedelta(days=183), end, api_keys=chosen),
    ]

    def read() -> dict[str, Any]:
        return {
            f"{group} {top} {i}": spend_by_day(engine, f, group, top)
            for i, f in enumerate(fs)
            for group in ("api_key", "actor", "model")
            for top in (None, 12)
        }

    caught_up(copy)
    through_copy = read()
    assert through_copy == from_the_database(copy, read)
    actors = {label for _, label, _ in through_copy["actor None 1"]}
    # An estimated key is its own actor, named as the key and labelled an estimate.
    assert any(f"{name}{ESTIMATE_SUFFIX}" in actors for name in key_names.values()), actors
    assert any(not a.endswith(ESTIMATE_SUFFIX) for a in actors)  # the billed organization's
    # The view really read the copy: the estimate taken out of it (behind its back) shows.
    with copy.engine.begin() as conn:
        conn.execute(text("DELETE FROM key_cost_estimate"))
    assert read() != through_copy
    copy.applied = None  # loaded again whole
    caught_up(copy)
    assert read() == through_copy

    # The key may read per-key cost again: the estimate is dropped, and the copy follows.
    assert estimated_rows(copy) > 0
    sim.key_cost.refuse = None
    assert sync_engine(sim, engine, settings).run(estimated_pk).outcome == "ok"
    estimate(engine)
    caught_up(copy)
    assert estimated_rows(copy) == 0  # gone from the copy too, not only left unread
    after = read()
    assert after == from_the_database(copy, read)
    assert not any(
        label.endswith(ESTIMATE_SUFFIX) for rows in after.values() for _, label, _ in rows
    )
    assert after["api_key None 1"]


def estimated_rows(copy: columnar.ColumnarCopy) -> int:
    with copy.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM key_cost_estimate")).scalar_one())


def rewrite_day(engine: Engine, pk: int, day: date, cents: Decimal) -> None:
    """A sync's write of one day: a single cost line and usage row of a model no one else
    uses, so a view filtered to it reads exactly this."""
    dims = {"model": "claude-test-1", "service_tier": "x", "workspace_id": None}
    with write_session(engine) as session:
        replace_days(
            session,
            pk,
            "cost",
            day,
            day + timedelta(days=1),
            [CostRow(day, {**dims, "cost_type": "tokens"}, cents, "USD")],
        )
        replace_days(
            session,
            pk,
            "usage",
            day,
            day + timedelta(days=1),
            [UsageRow(day=day, dims=dims, tokens={"output_tokens": 5})],
        )


def test_parallel_writers_get_versions_in_order(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """Writers of one organization's dataset take versions one after the other, each logged
    once: a copy that saw version N has every change up to N."""
    ids = synced_copy(sim, engine, settings)
    pk = org_pk(engine, ids[0])
    with read_session(engine) as session:
        start = session.execute(
            select(col(DataVersion.version)).where(
                col(DataVersion.organization_pk) == pk, col(DataVersion.dataset) == "cost"
            )
        ).scalar_one()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            rewrite_day(engine, pk, today() - timedelta(days=n), Decimal(n))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with read_session(engine) as session:
        logged = session.execute(
            select(col(DataChange.version))
            .where(col(DataChange.organization_pk) == pk, col(DataChange.dataset) == "cost")
            .where(col(DataChange.version) > start)
            .order_by(col(DataChange.version))
        ).scalars()
        assert list(logged) == list(range(start + 1, start + 7))
        count = session.execute(
            select(func.count()).select_from(CostLine).where(col(CostLine.model) == "claude-test-1")
        ).scalar_one()
    assert count == 6


def test_the_app_attaches_the_copy_unless_switched_off(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.ui import state

    db = state.engine()
    attached = columnar.attach(db)
    assert attached is not None
    current = caught_up(attached)
    assert current is not db and columnar.detail_engine(db) is current
    columnar.detach(db)
    monkeypatch.setenv("FINOPS_COLUMNAR_COPY", "false")
    db = state.engine()
    assert columnar.detail_engine(db) is db
    assert db not in columnar._COPIES


def test_without_room_for_the_copy_the_database_answers(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No room for the copy's file: the pages' views come from the database, unchanged, and
    the app does not try again on every rerun."""
    synced_copy(sim, engine, settings)
    f = views(engine)[0]
    expected = total_cents(engine, f)

    def full(*_: object, **__: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(columnar.tempfile, "mkdtemp", full)
    assert columnar.attach(engine) is None
    assert columnar.detail_engine(engine) is engine
    assert total_cents(engine, f) == expected
    monkeypatch.undo()
    assert columnar.attach(engine) is None  # not made again on the next rerun
    columnar._UNAVAILABLE.discard(engine)


def test_a_failing_refresh_leaves_the_database_answering_and_is_retried_later(
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    copy: columnar.ColumnarCopy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = synced_copy(sim, engine, settings)
    caught_up(copy)
    monkeypatch.setattr(columnar, "RETRY_SECONDS", 0.3)
    attempts: list[int] = []
    real = columnar._copy_rows

    def disk_full(*_: object, **__: object) -> None:
        attempts.append(1)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(columnar, "_copy_rows", disk_full)
    day = today() - timedelta(days=1)
    rewrite_day(engine, org_pk(engine, ids[0]), day, Decimal("42"))
    f = Filters(day, day + timedelta(days=1), models=("claude-test-1",), service_tiers=("x",))
    deadline = time.monotonic() + 30
    while copy.error is None:
        assert time.monotonic() < deadline
        copy.current()
        time.sleep(0.01)
    assert copy.error == "OSError"
    # The views are the database's, and right; the pages' reads do not retry it each time.
    started, tried = time.monotonic(), len(attempts)
    while time.monotonic() - started < 1.0:
        assert total_cents(engine, f) == Decimal("42")
    assert len(attempts) - tried <= 5  # about one a RETRY_SECONDS, not one a view
    monkeypatch.setattr(columnar, "_copy_rows", real)
    deadline = time.monotonic() + 30
    while copy.current() is None:  # the next retry catches up and clears the error
        assert time.monotonic() < deadline, "the copy was not retried"
        time.sleep(0.05)
    assert copy.error is None
    assert columnar.detail_engine(engine) is copy.engine
    assert total_cents(engine, f) == Decimal("42")


def test_an_organization_connected_during_the_first_load_is_copied_once(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first load copies every row there is, also those of an organization connected
    after the load read the database's marks; the next refresh sees that organization as
    new and must not add its rows a second time."""
    ids = synced_copy(sim, engine, settings)
    late = org_pk(engine, ids[-1])
    real = columnar.read_marks

    def before_it_was_connected(source: Any) -> columnar.Marks:
        marks = real(source)
        return columnar.Marks(
            {pk: v for pk, v in marks.organizations.items() if pk != late},
            {k: v for k, v in marks.versions.items() if k[0] != late},
        )

    copy = columnar.ColumnarCopy(engine)  # refreshed by hand: no thread
    try:
        monkeypatch.setattr(columnar, "read_marks", before_it_was_connected)
        copy.refresh()
        monkeypatch.setattr(columnar, "read_marks", real)
        first = copied_rows(copy, late)
        assert first > 0  # the load copied its rows although its marks were not read
        copy.refresh()
        assert copied_rows(copy, late) == first
        columnar._COPIES[engine] = copy
        assert_same(engine, copy)
    finally:
        columnar._COPIES.pop(engine, None)
        copy.close()
