"""`make bench`: ingestion, dashboard queries and backfill, measured side by side in one run.

Prints a table and writes bench/results/latest.json. Scales (organizations x days x rows/day):
small 2x60x200, medium 5x183x500, large 20x183x1366 (~5M cost and ~5M usage rows).
Figures are medians and 95th percentiles of repeated runs on this machine; compare ratios
measured in the same run, not absolute times across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCALES = {"small": (2, 60, 200), "medium": (5, 183, 500), "large": (20, 183, 1366)}
MODELS = [f"claude-model-{i}" for i in range(12)]
TIERS = ["standard", "batch", "priority", "flex"]
TOKEN_TYPES = [
    "uncached_input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=list(SCALES), default="large")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--latency", type=float, default=0.2, help="simulated API latency (s)")
    args = parser.parse_args()
    os.environ.setdefault("FINOPS_DATA_DIR", tempfile.mkdtemp(prefix="finops-bench-"))
    os.environ["FINOPS_MASTER_KEY"] = Fernet.generate_key().decode()

    from app.anthropic.schemas import CostRow, UsageRow
    from app.clock import utcnow
    from app.db import write_session
    from app.models import Organization
    from app.runtime import get_engine
    from app.settings import Settings
    from ingest.sync import replace_days

    settings = Settings()
    engine = get_engine(settings)
    orgs, days, per_day = SCALES[args.scale]
    today = date.today()  # noqa: DTZ011 (bench data only)
    first = today - timedelta(days=days - 1)
    print(f"scale {args.scale}: {orgs} orgs x {days} days x {per_day} rows/day per dataset "
          f"on {engine.dialect.name}")  # fmt: skip

    def org_rows(org_index: int, day: date) -> tuple[list[CostRow], list[UsageRow]]:
        rng = random.Random(f"{org_index}:{day}")
        workspaces = [f"wrkspc_{org_index}_{i}" for i in range(50)] + [None]
        keys = [f"apikey_{org_index}_{i}" for i in range(500)] + [None]
        cost, usage = [], []
        for i in range(per_day):
            ws = rng.choice(workspaces)
            model = rng.choice(MODELS)
            tier = rng.choice(TIERS[:2] if i % 3 else TIERS)
            token = TOKEN_TYPES[i % len(TOKEN_TYPES)]
            cost.append(
                CostRow(
                    day=day,
                    dims={
                        "workspace_id": ws,
                        "description": f"{model} {token} {tier} {i}",
                        "cost_type": "tokens",
                        "model": model,
                        "token_type": token,
                        "service_tier": tier,
                        "context_window": "0-200k",
                        "inference_geo": "global",
                    },
                    amount_cents=Decimal(rng.randint(1, 10**9)).scaleb(-6),
                    currency="USD",
                )
            )
            usage.append(
                UsageRow(
                    day=day,
                    dims={
                        "api_key_id": keys[i % len(keys)],
                        "workspace_id": ws,
                        "model": model,
                        "service_tier": tier,
                        "context_window": "0-200k" if i % 2 else f"x{i}",
                        "inference_geo": None,
                    },
                    tokens={
                        "uncached_input_tokens": rng.randint(0, 10**6),
                        "cache_creation_5m_input_tokens": 0,
                        "cache_creation_1h_input_tokens": 0,
                        "cache_read_input_tokens": rng.randint(0, 10**6),
                        "output_tokens": rng.randint(0, 10**5),
                        "web_search_requests": 0,
                    },
                )
            )
        return cost, usage  # fmt: skip

    # --- ingestion through the product's write path ---------------------------------------
    results: dict[str, Any] = {"scale": args.scale, "backend": engine.dialect.name}
    pks = []
    with write_session(engine) as session:
        for o in range(orgs):
            org = Organization(organization_id=f"bench-org-{o}", name=f"Bench {o}",
                               key_ciphertext="x", key_hint="sk-ant-admin01-…bnch",
                               status="healthy", backfill_start=first,
                               created_at=utcnow(),
                               backfill_progress=1.0)  # fmt: skip
            session.add(org)
            session.flush()
            pks.append(org.id)
    rows_written = 0
    ingest_s = 0.0  # time in the write path only; generating the rows is not counted
    for o, pk in enumerate(pks):
        for page_start in range(0, days, 31):  # pages of 31 days, as the API sends them
            cost: list[CostRow] = []
            usage: list[UsageRow] = []
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
    results["ingest_rows"] = rows_written
    results["ingest_rows_per_s"] = round(rows_written / ingest_s)
    print(
        f"ingested {rows_written:,} rows in {ingest_s:.1f} s: {rows_written / ingest_s:,.0f} rows/s"
    )

    # Plain bulk insert of the same kind of rows (one organization's worth) into a bare table.
    from sqlalchemy import Column, Date, Integer, MetaData, String, Table, insert

    bare = Table("bench_plain_cost", MetaData(), Column("organization_pk", Integer),
                 Column("date", Date), Column("workspace_id", String),
                 Column("description", String),
                 Column("model", String), Column("service_tier", String),
                 Column("amount", Integer))  # fmt: skip
    bare.create(engine, checkfirst=True)
    sample: list[dict[str, Any]] = []
    for d in range(min(days, 62)):
        c, _ = org_rows(0, first + timedelta(days=d))
        sample += [{"organization_pk": 0, "date": r.day, "workspace_id": r.dims["workspace_id"],
                    "description": r.dims["description"], "model": r.dims["model"],
                    "service_tier": r.dims["service_tier"],
                    "amount": int(r.amount_cents.scaleb(6))} for r in c]  # fmt: skip
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(bare), sample)
    plain_rate = len(sample) / (time.perf_counter() - t0)
    pages = []
    for page_start in range(0, min(days, 62), 31):
        cost = []
        for d in range(page_start, min(days, 62, page_start + 31)):
            cost += org_rows(0, first + timedelta(days=d))[0]
        a, b = (
            first + timedelta(days=page_start),
            first + timedelta(days=min(days, 62, page_start + 31)),
        )
        pages.append((a, b, cost))
    t0 = time.perf_counter()
    for a, b, cost in pages:
        with write_session(engine) as session:
            replace_days(session, pks[0], "cost", a, b, cost)
    product_rate = len(sample) / (time.perf_counter() - t0)
    results["ingest_product_vs_plain"] = round(product_rate / plain_rate, 3)
    print(f"product path {product_rate:,.0f} rows/s vs plain bulk insert {plain_rate:,.0f} rows/s "
          f"(ratio {product_rate / plain_rate:.2f}; target >= 0.5)")  # fmt: skip

    # --- dashboard queries ---------------------------------------------------------------------
    from app.services import reports
    from app.services.organizations import list_organizations
    from app.services.queries import Filters, filter_options, spend_by_day, usage_by_day

    last30 = Filters(today - timedelta(days=29), today + timedelta(days=1))
    one_org = Filters(today - timedelta(days=29), today + timedelta(days=1),
                      organizations=("bench-org-1",), models=(MODELS[3],))  # fmt: skip
    six_months = Filters(first, today + timedelta(days=1))
    queries: dict[str, Callable[[], Any]] = {
        "overview: summary": lambda: reports.spend_summary(engine, today),
        "overview: organizations": lambda: list_organizations(engine),
        "spend 30d by model": lambda: spend_by_day(engine, last30, "model"),
        "spend 30d by workspace": lambda: spend_by_day(engine, last30, "workspace"),
        "spend 30d by tier": lambda: spend_by_day(engine, last30, "service_tier"),
        "spend 30d one org+model": lambda: spend_by_day(engine, one_org, "description"),
        "spend 6m by organization": lambda: spend_by_day(engine, six_months, "organization"),
        "usage 30d by model": lambda: usage_by_day(engine, last30, "model"),
        "usage 30d by api key": lambda: usage_by_day(engine, last30, "api_key"),
        "filters: options": lambda: filter_options(engine),
    }
    print(f"\n{'query':<28} {'p50 ms':>9} {'p95 ms':>9}")
    results["queries"] = {}
    for name, fn in queries.items():
        p50, p95 = timed(fn, args.repeat)
        results["queries"][name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
        print(f"{name:<28} {p50:>9.1f} {p95:>9.1f}")

    # --- backfill against the simulator with a fixed latency ---------------------------------
    from app.anthropic.client import AdminClient
    from app.keystore import KeyStore
    from app.services.access import OPERATOR
    from app.services.connections import connect
    from app.simulator import Simulator, serve_http
    from ingest.sync import SyncEngine

    sim = Simulator()
    sim_org = sim.add_org(name="Latency Co", seed=5)
    sim.latency = args.latency
    with serve_http(sim) as server:
        store = KeyStore.from_settings(settings)
        fast = settings.model_copy(update={"anthropic_base_url": server.base_url})
        connect(sim_org.admin_key, engine=engine, settings=fast, keystore=store, actor=OPERATOR)
        counter: list[AdminClient] = []

        def make(org: Organization, key: str) -> AdminClient:
            client = AdminClient(key, base_url=server.base_url)
            counter.append(client)
            return client

        sync = SyncEngine(engine=engine, settings=fast, keystore=store, client_factory=make)
        from sqlalchemy import select

        with write_session(engine) as session:
            pk = session.execute(select(Organization.id).where(
                Organization.organization_id == sim_org.id)).scalar_one()  # fmt: skip
        t0 = time.perf_counter()
        outcome = sync.run(pk)
        wall = time.perf_counter() - t0
    requests = sum(c.requests_made for c in counter)
    floor = requests * args.latency
    results["backfill"] = {"seconds": round(wall, 2), "requests": requests,
                           "floor_seconds": round(floor, 2), "ratio": round(wall / floor, 3),
                           "outcome": outcome.outcome}  # fmt: skip
    print(f"\nbackfill of six months: {wall:.2f} s for {requests} requests at {args.latency}s "
          f"(floor {floor:.2f} s, ratio {wall / floor:.2f}; target <= 1.3)")  # fmt: skip
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["peak_rss_mib_whole_bench"] = round(peak_mib)
    print(f"peak RSS of this bench process (generation included): {peak_mib:.0f} MiB")

    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
