"""The anomaly scan's time at the issue's scale: 20 organizations x 183 days x every series
(the organization, 12 workspaces, 14 models and web search each), through the product's own
scan (``app.finops.anomalies.detect``) on a SQLite file seeded with the daily rollups it reads.
Used by ``bench/anomaly_quality.py``; ``python -m bench.anomaly_scan`` runs it alone."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.datasets import ECONOMICS, encode_value
from app.db import make_engine, migrate, write_session
from app.models import CostDaily, Organization
from app.store.bulk import insert_tuples

WORKSPACES = 12
MODELS = 14


def seed(engine: Any, orgs: int, days: int, end: date) -> None:
    """Rollup rows of ``orgs`` organizations over the ``days`` days before ``end``: a weekly
    pattern, growth, noise and a spike now and then."""
    rng = random.Random(19)
    start = end - timedelta(days=days)
    c = CostDaily.__table__.c
    columns = [c.organization_pk, c.date, c.dim, c.value, c.amount_cents]
    with write_session(engine) as session:
        for i in range(orgs):
            org = Organization(
                organization_id=f"org-bench-{i}",
                name=f"Bench {i}",
                key_ciphertext="x",
                key_hint="x",
                status="healthy",
                backfill_start=start,
                created_at=datetime.now(UTC),
            )
            session.add(org)
            session.flush()
            assert org.id is not None
            rows: list[tuple[Any, ...]] = []
            levels = {
                ("ws", w, m): rng.uniform(5, 500)
                for w in range(WORKSPACES)
                for m in range(MODELS + 1)
                if rng.random() < 0.4
            }
            for n in range(days):
                day = start + timedelta(days=n)
                factor = (0.4 if day.weekday() >= 5 else 1.0) * (1.01 ** (n / 7))
                by_ws: dict[str | None, Decimal] = {}
                by_model: dict[str, Decimal] = {}
                for (_, w, m), level in levels.items():
                    usd = level * factor * rng.lognormvariate(0, 0.12)
                    if rng.random() < 0.002:
                        usd *= 4
                    cents = Decimal(round(usd * 100, 6))
                    ws = f"wrkspc_{i}_{w}" if w else None
                    by_ws[ws] = by_ws.get(ws, Decimal(0)) + cents
                    value = (
                        encode_value(("tokens", f"claude-model-{m}", "standard"))
                        if m < MODELS
                        else encode_value(("web_search", None, None))
                    )
                    by_model[value] = by_model.get(value, Decimal(0)) + cents
                total = sum(by_ws.values(), Decimal(0))
                rows.append((org.id, day, "cost_type", "tokens", total))
                rows += [(org.id, day, "workspace", ws, v) for ws, v in by_ws.items()]
                rows += [(org.id, day, ECONOMICS, value, v) for value, v in by_model.items()]
            insert_tuples(session, CostDaily.__table__, columns, rows)


@dataclass(frozen=True)
class ScanTimes:
    """Seconds of the scan after a sync: the first (every organization), one with nothing
    changed since, and one after a single organization's cost was written again (what the
    worker runs after each organization's sync)."""

    first: float
    unchanged: float
    one_changed: float
    series: int


def timed_scan(orgs: int = 20, days: int = 183) -> ScanTimes:
    """The three scans' seconds (reading, detecting, storing) and the series scanned."""
    from app.db import read_session
    from app.finops import anomalies
    from app.store.changes import record_change

    end = datetime.now(UTC).date()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        seed(engine, orgs, days, end)
        first = _timed(lambda: anomalies.detect(engine, None))
        unchanged = _timed(lambda: anomalies.detect(engine, None))
        with write_session(engine) as session:  # one organization's last day written again
            some_org = session.execute(select(Organization.id).limit(1)).scalar_one()
            record_change(session, some_org, "cost", end - timedelta(days=1), end)
        one_changed = _timed(lambda: anomalies.detect(engine, None))
        with read_session(engine) as session:
            count = len(anomalies.read_series(session, end - timedelta(days=days), end).days)
        engine.dispose()
    return ScanTimes(first, unchanged, one_changed, count)


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def report(times: ScanTimes, orgs: int = 20, days: int = 183) -> str:
    return (
        f"scan of {orgs} organizations x {days} days ({times.series} series, SQLite): first "
        f"{times.first:.2f} s; again with nothing changed {times.unchanged:.3f} s; after one "
        f"organization's sync {times.one_changed:.2f} s"
    )


def main() -> int:
    print(report(timed_scan()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
