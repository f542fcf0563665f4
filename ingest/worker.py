"""The worker: one APScheduler BlockingScheduler that runs due syncs. Never imported by Streamlit.

A ``dispatch`` job looks at the database every few seconds (so a newly connected organization
starts its backfill within seconds, not at the next interval) and queues one ``sync-<org>`` job
per due organization. The database lease in ``Syncer`` keeps a second worker off the same
organization.
"""

from __future__ import annotations

import fcntl
import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine

from app.db import DatabaseError
from app.finops import after_sync
from app.keystore import MasterKeyError
from app.models import SyncOutcome
from app.redact import configure_logging
from app.runtime import client_factory, get_engine, keystore
from app.settings import Settings, SettingsError, get_settings
from ingest.sync import Syncer

log = logging.getLogger("ingest.worker")

SYNC_THREADS = 4


class Worker:
    """Owns the scheduler, the stop flag and the set of organizations being synced."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.syncer = Syncer(
            engine=get_engine(settings),
            settings=settings,
            keystore=keystore(settings),
            client_factory=client_factory(settings),
            should_stop=self.stop_event.is_set,
        )
        self.executor = ThreadPoolExecutor(SYNC_THREADS)
        self.scheduler = BlockingScheduler(
            executors={"default": self.executor},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            timezone=UTC,
        )
        self._running: set[int] = set()
        self._lock = threading.Lock()

    def dispatch(self) -> None:
        """Queue a sync for every due organization that is not already running here."""
        if self.stop_event.is_set():
            if self.scheduler.running:  # a tick queued behind busy threads may come late
                self.scheduler.shutdown(wait=False)
            return
        try:
            due = self.syncer.due_organizations()
        except Exception:
            log.exception("Could not read due organizations; will try again")
            return
        for org_pk in due:
            with self._lock:
                if org_pk in self._running or self.stop_event.is_set():
                    continue
                self._running.add(org_pk)
            self.scheduler.add_job(
                self._sync,
                "date",
                id=f"sync-{org_pk}",
                args=[org_pk],
                replace_existing=True,
                run_date=datetime.now(UTC),
            )

    def _sync(self, org_pk: int) -> None:
        try:
            result = self.syncer.run(org_pk)
            if result.outcome in (SyncOutcome.OK, SyncOutcome.STOPPED, SyncOutcome.SKIPPED):
                log.info(
                    "%s: %s (%s pages, %s rows)",
                    result.name,
                    result.outcome,
                    result.pages,
                    result.rows,
                )
            else:
                log.warning("%s: %s: %s", result.name, result.outcome, result.message)
            if result.outcome == SyncOutcome.OK:
                # Allocation, alerts and anomalies follow the new rows; each step logs its own
                # failure (the rows are committed: the sync itself succeeded).
                after_sync(self.syncer.engine, self.settings)
        finally:
            with self._lock:
                self._running.discard(org_pk)

    def request_stop(self, *_args: object) -> None:
        """Called from the signal handler: only raise the flag. The next dispatch tick (at most
        ``dispatch_seconds`` away) shuts the scheduler down from inside it; shutting it down
        here raced with a scheduler still starting in the same thread and could leave it
        running with its executor gone, never to stop."""
        log.info("Stopping: finishing the page in progress")
        self.stop_event.set()

    def recover(self) -> None:
        """Close the runs a stopped or killed worker left "running" (their lease owner is
        gone), so the run history says "interrupted" instead of running forever."""
        try:
            closed = self.syncer.close_interrupted_runs()
        except Exception:  # the database may be busy; the organizations' next runs close them
            log.exception("Could not close interrupted runs; their next runs will")
            return
        if closed:
            log.info("Closed %s run(s) a stopped worker left unfinished, as interrupted", closed)

    def run(self) -> None:
        self.recover()
        self.scheduler.add_job(
            self.dispatch,
            "interval",
            seconds=self.settings.dispatch_seconds,
            id="dispatch",
            replace_existing=True,
            next_run_time=datetime.now(UTC),
        )
        log.info(
            "Worker started (database %s, sync every %s min)",
            self.syncer.engine.url.render_as_string(hide_password=True),
            self.settings.sync_interval_minutes,
        )
        # Prometheus metrics on 127.0.0.1 while the worker runs (FINOPS_METRICS_PORT).
        from app.finops.metrics import start_metrics_server

        metrics = start_metrics_server(self.syncer.engine, self.settings.metrics_port)
        try:
            self.scheduler.start()
            # Started syncs notice the stop flag between pages; wait for them to commit.
            self.executor.shutdown(wait=True)
        finally:
            if metrics is not None:
                metrics.stop()
        log.info("Worker stopped")


def sqlite_worker_lock(engine: Engine, stopping: threading.Event) -> IO[bytes] | None:
    """On SQLite, one worker at a time: others wait here, saying why, and take over when the
    running one stops or dies (the OS releases its lock). Postgres needs no such lock: there
    the organizations' leases spread the work over any number of workers."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    path = Path(engine.url.database).with_suffix(".worker.lock")
    handle = path.open("a+b")
    told = False
    while not stopping.is_set():
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if not told:
                log.warning(
                    "Another worker is already running on the SQLite database %s; SQLite "
                    "allows one writer, so this worker waits and takes over if that one stops. "
                    "Use Postgres to run several workers side by side.",
                    engine.url.database,
                )
                told = True
            stopping.wait(2.0)
    handle.close()
    return None


def main() -> int:
    try:
        settings = get_settings()
    except SettingsError as exc:
        configure_logging("INFO")
        log.error("%s", exc)
        return 2
    configure_logging(settings.log_level)
    stopping = threading.Event()
    worker: Worker | None = None

    def _handle(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        if worker is not None:
            worker.request_stop()

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    delay = 1.0
    while worker is None:
        try:
            worker = Worker(settings)
        except MasterKeyError as exc:
            log.error("%s", exc)  # a configuration error: waiting will not fix it
            return 1
        except DatabaseError as exc:
            # The database may simply not be up yet (a container starting next to us): wait.
            log.error("%s Retrying in %.0f s (Ctrl-C to stop).", exc, delay)
            if stopping.wait(delay):
                return 0
            delay = min(delay * 2, 30.0)
    lock = sqlite_worker_lock(worker.syncer.engine, stopping)
    if stopping.is_set():
        return 0
    if lock is not None:
        log.info("This worker holds the SQLite worker lock")
    worker.run()
    return 0
