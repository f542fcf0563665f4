"""Soak: many incremental sync cycles against a simulator that keeps revising its data.

Prints memory (RSS), open file descriptors and pooled connections every few cycles and a
summary at the end; exits non-zero if they grew beyond a small allowance or totals drifted.
Run with `make soak` (SQLite) or `make soak FINOPS_DATABASE_URL=postgresql+psycopg://...`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' helpers


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--orgs", type=int, default=3)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="finops-soak-")
    os.environ.setdefault("FINOPS_DATA_DIR", data)
    os.environ["FINOPS_MASTER_KEY"] = Fernet.generate_key().decode()

    from app.anthropic.admin import AdminClient
    from app.clock import months_back, today
    from app.keystore import KeyStore
    from app.models import Organization, SyncOutcome
    from app.runtime import get_engine, key_probe
    from app.services.access import OPERATOR
    from app.services.connections import connect
    from app.settings import Settings
    from app.simulator import Simulator
    from ingest.sync import Syncer
    from tests.utils.factories import org_pk, stored_cost, truth_cost

    settings = Settings()
    engine = get_engine(settings)
    sim = Simulator()
    for i in range(args.orgs):
        sim.add_org(name=f"Soak {i}", seed=900 + i)
    store = KeyStore.from_settings(settings)

    def make(org: Organization, key: str) -> AdminClient:
        return AdminClient(key, transport=sim.transport(), sleep=lambda _s: None)

    for org in sim.orgs.values():
        connect(
            org.admin_key,
            engine=engine,
            settings=settings,
            keystore=store,
            actor=OPERATOR,
            probe=key_probe(settings, transport=sim.transport()),
        )
    sync = Syncer(engine=engine, settings=settings, keystore=store, client_factory=make)
    pks = [org_pk(engine, o.id) for o in sim.orgs.values()]
    for pk in pks:
        assert sync.run(pk).outcome == SyncOutcome.OK  # the backfills

    baseline = (rss_mib(), open_fds(), engine.pool.checkedout())
    print(f"{'cycle':>6} {'RSS MiB':>8} {'fds':>5} {'pool out':>8}")
    peak = baseline[0]
    for cycle in range(1, args.cycles + 1):
        for org in sim.orgs.values():
            sim.revise(org.id, days=2)  # new upstream data every cycle
        for pk in pks:
            result = sync.run(pk)
            if result.outcome != SyncOutcome.OK:
                print(f"cycle {cycle}: {result.outcome}: {result.message}", file=sys.stderr)
                return 1
        peak = max(peak, rss_mib())
        if cycle % max(1, args.cycles // 10) == 0:
            print(f"{cycle:>6} {rss_mib():>8.1f} {open_fds():>5} {engine.pool.checkedout():>8}")

    start, end = months_back(today(), settings.backfill_months), today() + timedelta(days=1)
    exact = all(
        stored_cost(engine, o.id) == truth_cost(sim, o.id, start, end) for o in sim.orgs.values()
    )
    final = (rss_mib(), open_fds(), engine.pool.checkedout())
    peak = max(peak, final[0])
    print(f"\nsummary: {args.cycles} cycles x {args.orgs} organizations")
    print(f"  RSS       {baseline[0]:.1f} MiB -> {final[0]:.1f} MiB (peak {peak:.1f})")
    print(f"  open fds  {baseline[1]} -> {final[1]}")
    print(f"  pool      {baseline[2]} -> {final[2]} connections checked out")
    print(f"  totals    {'equal to the simulator' if exact else 'DIFFERENT from the simulator'}")
    grew = final[0] - baseline[0] > 50 or final[1] > baseline[1] + 5 or final[2] > baseline[2]
    return 0 if exact and not grew else 1


if __name__ == "__main__":
    sys.exit(main())
