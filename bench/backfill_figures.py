"""The backfill figures of `make bench`: a six-month backfill of an organization as large as the
largest bench one, by a real `finops worker` process (bench/backfill.py) against the simulator
with a fixed per-request latency, vs the floor (the critical path of the requests the simulator
received, given the worker's own concurrency, each costing the latency plus the simulator's own
time answering it), and that worker's peak RSS."""

from __future__ import annotations

from typing import Any

from bench.figures import BACKFILL_TARGET, WORKER_TARGET_BYTES, BenchRun, Figure


def backfill_figures(run: BenchRun, store: Any, latency: float) -> None:
    """Connect a simulated organization (``latency`` seconds a request) and time its backfill
    by a worker process, unless the backfill is skipped."""
    from sqlalchemy import delete, select

    from app.db import write_session
    from app.models import Organization
    from app.runtime import key_probe
    from app.services.access import OPERATOR
    from app.services.connections import connect
    from app.simulator import Simulator, serve_http
    from bench.backfill import critical_path, run_worker_backfill, widen

    engine, settings, per_day, work = run.engine, run.settings, run.per_day, run.work
    results, figures = run.results, run.figures
    if "backfill" not in run.skip:
        sim = Simulator()
        sim_org = sim.add_org(name="Latency Co", seed=5)
        widen(sim, sim_org.id, per_day)  # as large as the largest bench organization
        with serve_http(sim) as server:
            fast = settings.model_copy(update={"anthropic_base_url": server.base_url})
            sim.latency = latency
            with write_session(engine) as session:  # from an earlier run (--reuse)
                session.execute(
                    delete(Organization).where(Organization.organization_id == sim_org.id)
                )
            connect(
                sim_org.admin_key,
                engine=engine,
                settings=fast,
                keystore=store,
                actor=OPERATOR,
                probe=key_probe(fast),
            )
            with write_session(engine) as session:
                pk = session.execute(
                    select(Organization.id).where(Organization.organization_id == sim_org.id)
                ).scalar_one()
            print(
                f"\nbackfill of six months by `finops worker` ({per_day} usage rows a day, "
                f"{latency}s a request)..."
            )
            try:
                bf = run_worker_backfill(
                    engine, pk, sim, server.base_url, work / "worker.log", timeout=3 * 3600
                )
            except RuntimeError as exc:  # no figure, but the rest of the bench still runs
                bf = None
                log_tail = (work / "worker.log").read_text(errors="replace")[-600:]
                print(f"backfill FAILED: {exc}\nworker log ({work / 'worker.log'}):\n{log_tail}")
                results["backfill"] = {"error": str(exc)}
                figures += [
                    Figure("backfill: 6 months, finops worker", "failed", "", str(exc)),
                    Figure("worker: peak RSS during the backfill", "failed", "", str(exc)),
                ]
        if bf is not None:
            from ingest.sources.console import CLAUDE_CODE_FETCHERS

            path = critical_path(bf.recorded, CLAUDE_CODE_FETCHERS, latency)
            floor = path.seconds(latency)
            derivation = path.derivation(latency)
            results["backfill"] = {
                "seconds": round(bf.seconds, 2),
                "requests": bf.requests,
                "requests_per_route": path.per_route,
                "claude_code_days": path.days,
                "concurrency": path.concurrency,
                "critical_path_requests": path.path,
                "simulator_answer_seconds_on_path": round(path.answer_seconds, 2),
                "floor": derivation,
                "floor_seconds": round(floor, 2),
                "ratio": round(bf.seconds / floor, 3),
                "outcome": bf.outcome,
                "pages": bf.pages,
                "rows": bf.rows,
                "usage_rows_per_day": per_day,
                "process_seconds": round(bf.process_seconds, 2),
            }
            results["worker"] = {
                "peak_rss_mb": round(bf.peak_rss_bytes / 1e6, 1),
                "source": bf.peak_rss_source,
                "wait4_ru_maxrss_mb": round(bf.ru_maxrss_bytes / 1e6, 1),
            }
            print(
                f"backfill: {bf.outcome}, {bf.seconds:.2f} s for {bf.requests} requests, "
                f"{path.concurrency} Claude Code days at a time; floor: {derivation}; "
                f"worker peak RSS {bf.peak_rss_bytes / 1e6:.0f} MB"
            )
            if bf.outcome != "ok":
                print(f"worker log ({work / 'worker.log'}):\n{bf.log_tail}")
            figures += [
                Figure(
                    "backfill: 6 months, finops worker",
                    f"{bf.seconds:,.2f}",
                    "s",
                    f"floor {floor:.2f} s ({bf.requests} requests, critical path "
                    f"{path.path} at {path.concurrency} Claude Code days at a time); "
                    f"{bf.rows:,} rows, {bf.outcome}",
                    bf.seconds / floor,
                    f"<= {BACKFILL_TARGET} x",
                    bf.outcome == "ok" and bf.seconds / floor <= BACKFILL_TARGET,
                ),
                Figure(
                    "worker: peak RSS during the backfill",
                    f"{bf.peak_rss_bytes / 1e6:,.0f}",
                    "MB",
                    f"{bf.peak_rss_source} of the worker process",
                    None,
                    f"<= {WORKER_TARGET_BYTES // 10**6} MB",
                    bf.peak_rss_bytes <= WORKER_TARGET_BYTES,
                ),
            ]
