"""The ingestion figures of `make bench`: the bench organizations written through the product's
write path (``replace_days``), and the same rows through it against the database's fastest plain
bulk load (raw ``executemany`` on SQLite, ``COPY`` on Postgres)."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from bench.bench_rows import API_KEYS, WORKSPACE_NAMES, RowsOf, key_name
from bench.figures import INGEST_TARGET, BenchRun, Figure


def ingestion_figures(run: BenchRun, org_rows: RowsOf, reuse: bool) -> int | None:
    """Write the bench organizations (unless ``reuse`` finds them already there) and compare
    the write path with a plain insert; returns 2, the bench's exit status, when the database
    holds bench organizations it may not reuse."""
    from sqlalchemy import select

    from app.db import read_session, refresh_statistics
    from app.models import Organization

    engine, orgs, days, first = run.engine, run.orgs, run.days, run.first
    results, figures = run.results, run.figures
    with read_session(engine) as session:
        existing = (
            session.execute(
                select(Organization.id)
                .where(Organization.organization_id.like("bench-org-%"))
                .order_by(Organization.id)
            )
            .scalars()
            .all()
        )
    if reuse and len(existing) == orgs:
        print(f"reusing the {orgs} bench organizations already in the database (--reuse)")
    else:
        if existing:
            print(
                "error: this database already holds bench organizations; use --reuse or an "
                "empty FINOPS_DATA_DIR / database"
            )
            return 2
        _, rows_written, ingest_s = ingest(engine, orgs, days, first, org_rows)
        results["ingest_rows"] = rows_written
        results["ingest_rows_per_s"] = round(rows_written / ingest_s)
        figures.append(
            Figure(
                "ingest: bench data, product path",
                f"{rows_written / ingest_s:,.0f}",
                "rows/s",
                f"{rows_written:,} rows in {ingest_s:.1f} s",
            )
        )
    # As the sync does when a first backfill completes (Postgres plans from these statistics).
    refresh_statistics(engine)
    product_rate, plain_rate = ingest_vs_plain(engine, first, min(days, 62), org_rows)
    plain_name = "COPY" if engine.dialect.name == "postgresql" else "raw executemany"
    results["ingest_product_vs_plain"] = round(product_rate / plain_rate, 3)
    results["ingest_product_rows_per_s"] = round(product_rate)
    results["ingest_plain_rows_per_s"] = round(plain_rate)
    results["ingest_plain"] = plain_name
    print(
        f"product path {product_rate:,.0f} rows/s vs {plain_name} {plain_rate:,.0f} rows/s "
        f"(ratio {product_rate / plain_rate:.2f}; target >= 0.5)"
    )
    figures.append(
        Figure(
            "ingest: product path vs plain bulk load",
            f"{product_rate:,.0f}",
            "rows/s",
            f"{plain_name} of the same rows {plain_rate:,.0f} rows/s",
            product_rate / plain_rate,
            f">= {INGEST_TARGET} x",
            product_rate / plain_rate >= INGEST_TARGET,
        )
    )
    return None


def ingest(
    engine: Any, orgs: int, days: int, first: date, org_rows: RowsOf
) -> tuple[list[int], int, float]:
    """Write every bench organization through ``replace_days`` in pages of 31 days, as the
    sync does; returns (organization pks, rows written, seconds in the write path)."""
    from app.clock import utcnow
    from app.db import write_session
    from app.models import ApiKey, Organization, Workspace
    from app.store import replace_days

    pks = []
    with write_session(engine) as session:
        for o in range(orgs):
            org = Organization(
                organization_id=f"bench-org-{o}",
                name=f"Bench {o}",
                key_ciphertext="x",
                key_hint="sk-ant-admin01-…bnch",
                status="healthy",
                backfill_start=first,
                created_at=utcnow(),
                backfill_progress=1.0,
                # not due: the worker started below syncs only its own org
                next_run_at=utcnow() + timedelta(days=3650),
            )
            session.add(org)
            session.flush()
            pks.append(org.id)
            # The directory, as the sync fetches it: the same names in every organization.
            session.add_all(
                Workspace(organization_pk=org.id, workspace_id=f"wrkspc_{o}_{i}", name=name)
                for i, name in enumerate(WORKSPACE_NAMES)
            )
            session.add_all(
                ApiKey(organization_pk=org.id, api_key_id=f"apikey_{o}_{i}", name=key_name(i))
                for i in range(API_KEYS)
            )
    rows_written = 0
    ingest_s = 0.0  # time in the write path only; generating the rows is not counted
    for o, pk in enumerate(pks):
        for page_start in range(0, days, 31):  # pages of 31 days, as the API sends them
            cost: list[Any] = []
            usage: list[Any] = []
            for d in range(page_start, min(days, page_start + 31)):
                c, u = org_rows(o, first + timedelta(days=d))
                cost += c
                usage += u
            a, b = (
                first + timedelta(days=page_start),
                first + timedelta(days=min(days, page_start + 31)),
            )
            t0 = time.perf_counter()
            with write_session(engine) as session:
                rows_written += replace_days(session, pk, "cost", a, b, cost)
                rows_written += replace_days(session, pk, "usage", a, b, usage)
            ingest_s += time.perf_counter() - t0
    print(
        f"ingested {rows_written:,} rows in {ingest_s:.1f} s: {rows_written / ingest_s:,.0f} rows/s"
    )
    return pks, rows_written, ingest_s


def ingest_vs_plain(engine: Any, first: date, days: int, org_rows: RowsOf) -> tuple[float, float]:
    """(product rows/s, plain rows/s) for the same rows written into the same full tables:
    from the same parsed API rows, the database's fastest plain bulk load of each row's column
    values (``bulk_load``), against ``replace_days`` (merge by natural key, delete of the days,
    rollups, running totals and filter values included), each for a new organization; both are
    removed afterwards."""
    from sqlalchemy import delete

    from app.clock import utcnow
    from app.db import write_session
    from app.models import Organization
    from app.store import replace_days

    def pages() -> list[tuple[date, date, list[Any], list[Any]]]:
        """Pages of 31 days of cost and usage rows, new objects each time (nothing computed
        for one side, such as a row's natural key, is reused by the other)."""
        out = []
        for page_start in range(0, days, 31):
            cost: list[Any] = []
            usage: list[Any] = []
            for d in range(page_start, min(days, page_start + 31)):
                c, u = org_rows(0, first + timedelta(days=d))
                cost += c
                usage += u
            a = first + timedelta(days=page_start)
            out.append((a, first + timedelta(days=min(days, page_start + 31)), cost, usage))
        return out

    pks = []
    with write_session(engine) as session:
        # Left over by an interrupted run: cascades to their rows.
        session.execute(
            delete(Organization).where(Organization.organization_id.like("bench-ingest-%"))
        )
        for name in ("plain", "product"):
            org = Organization(
                organization_id=f"bench-ingest-{name}",
                name=name,
                key_ciphertext="x",
                key_hint="x",
                status="healthy",
                backfill_start=first,
                created_at=utcnow(),
                next_run_at=utcnow() + timedelta(days=3650),
            )
            session.add(org)
            session.flush()
            pks.append(org.id)
    plain_pk, product_pk = pks
    plain = pages()
    rows = sum(len(c) + len(u) for _, _, c, u in plain)
    plain_rate = rows / bulk_load(engine, plain_pk, plain)
    fresh = pages()
    t0 = time.perf_counter()
    for a, b, cost, usage in fresh:
        with write_session(engine) as session:
            replace_days(session, product_pk, "cost", a, b, cost)
            replace_days(session, product_pk, "usage", a, b, usage)
    product_rate = rows / (time.perf_counter() - t0)
    with write_session(engine) as session:  # cascades to their rows, rollups and filter values
        session.execute(delete(Organization).where(Organization.id.in_(pks)))
    return product_rate, plain_rate


Pages = list[tuple[date, date, list[Any], list[Any]]]


def bulk_load(engine: Any, org_pk: int, pages: Pages) -> float:
    """Seconds to load ``pages`` the fastest plain way the database has, one transaction a
    page, into the full cost_line and usage_bucket tables (their indexes included): on SQLite
    the DB-API's ``executemany`` of one prepared INSERT, on Postgres ``COPY ... FROM STDIN``
    (psycopg 3). The values are each row's columns as the product stores them (its parsed
    row's ``values()``, the organization, the columns' own defaults and bind conversions such
    as cents to integer micro-cents on SQLite), built inside the timing as the product builds
    its own."""
    from app.models import CostLine, UsageBucket

    dialect = engine.dialect
    postgres = dialect.name == "postgresql"
    # (table, columns, their bind conversions, the parsed row's columns, the other columns'
    # defaults)
    shapes = []
    for model, sample in ((CostLine, pages[0][2][0]), (UsageBucket, pages[0][3][0])):
        table = model.__table__
        given = ["organization_pk", *sample.values()]
        defaults = {
            c.name: c.default.arg
            for c in table.columns
            if c.name not in given and c.default is not None and c.default.is_scalar
        }
        names = [*given, *defaults]
        convert = [table.columns[n].type.bind_processor(dialect) for n in names]
        shapes.append((table.name, names, convert, given[1:], defaults))
    raw = engine.raw_connection()
    try:
        t0 = time.perf_counter()
        for _, _, cost, usage in pages:
            cursor = raw.cursor()
            if not postgres:  # the product's connections leave BEGIN to the caller
                cursor.execute("BEGIN IMMEDIATE")
            for shape, page in zip(shapes, (cost, usage), strict=True):
                table, names, convert, parsed, defaults = shape
                records = []
                for r in page:
                    values = r.values()
                    record = (org_pk, *(values[n] for n in parsed), *defaults.values())
                    records.append(
                        tuple(
                            v if f is None else f(v) for f, v in zip(convert, record, strict=True)
                        )
                    )
                columns = ", ".join(names)
                if postgres:
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for record in records:
                            copy.write_row(record)
                else:
                    marks = ", ".join("?" for _ in names)
                    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", records)
            cursor.close()
            raw.commit()
        return time.perf_counter() - t0
    finally:
        raw.close()
