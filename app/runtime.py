"""Process-wide wiring: the engine, the key store, how a client is made for an organization and
how a key is tested before it is saved. Pages and services never import this module (ruff bans
it there): the UI's wiring layer (app/ui/) and the CLI hand them what they need."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import date
from typing import Literal, overload

import httpx
from sqlalchemy import Engine

from app import columnar
from app.anthropic.admin import AdminClient
from app.anthropic.analytics import AnalyticsClient
from app.anthropic.schemas import OrganizationInfo
from app.clock import today
from app.db import DatabaseError, make_engine, migrate
from app.keystore import KeyStore
from app.models import Organization, Provider
from app.private_files import ensure_private_folder
from app.services.connections import KeyProbe
from app.settings import Settings

# A client of the API an organization speaks: the Admin API (Console) or the Claude Enterprise
# Analytics API.
Client = AdminClient | AnalyticsClient
ClientFactory = Callable[[Organization, str], Client]

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(settings: Settings) -> Engine:
    """One migrated engine per database URL for the life of the process."""
    url = settings.resolved_database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            # The master key file lives here too, whatever the database: private (0700).
            try:
                ensure_private_folder(settings.data_dir)
            except OSError as exc:
                raise DatabaseError(
                    f"Cannot create the data folder {settings.data_dir}: {exc.strerror}. "
                    "Check FINOPS_DATA_DIR and the permissions of its parent folder."
                ) from None
            engine = make_engine(url, busy_timeout_seconds=settings.database_busy_timeout_seconds)
            migrate(engine)
            _engines[url] = engine
        return engine


def dashboard_engine(settings: Settings) -> Engine:
    """The engine of the dashboard process (its pages, and ``app.web`` as the server starts),
    with what only that process needs begun in the background: the columnar copy of the detail
    rows (the worker and the CLI read the database itself) and statsmodels' import for the
    Overview's projection. Idempotent: later calls return the same engine and copy."""
    from app.finops import forecast

    forecast.warm_up()
    engine = get_engine(settings)
    if settings.columnar_copy:
        columnar.attach(engine)
    return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            columnar.detach(engine)
            engine.dispose()
        _engines.clear()


def client_factory(settings: Settings) -> ClientFactory:
    """Real organizations talk to ``FINOPS_ANTHROPIC_BASE_URL``; the demo one to the in-process
    simulator, so "Explore with demo data" needs no network in the app or the worker."""

    def make(org: Organization, key: str) -> Client:
        return new_client(
            settings, key, demo=org.is_demo, enterprise=org.provider == Provider.ENTERPRISE
        )

    return make


def key_probe(settings: Settings, *, transport: httpx.BaseTransport | None = None) -> KeyProbe:
    """How the Connect wizard, "Replace key" and `finops connect` test a key: an Admin key asks
    which organization it opens; an Analytics API key asks for a few days of engagement
    summaries (a 404 there means it lacks read:analytics). ``transport`` is for tests."""
    # One quick retry at most: the person is waiting for the answer.
    quick = settings.model_copy(update={"max_retries": 1, "http_timeout_seconds": 10.0})

    def probe(provider: str, key: str, *, demo: bool = False) -> OrganizationInfo | None:
        if provider == Provider.ENTERPRISE:
            with new_client(quick, key, transport=transport, enterprise=True, demo=demo) as api:
                api.test_analytics(today())
            return None  # the Analytics API cannot say which organization the key opens
        with new_client(quick, key, demo=demo, transport=transport) as client:
            return client.get_organization()

    return probe


@overload
def new_client(
    settings: Settings,
    key: str,
    *,
    demo: bool = ...,
    transport: httpx.BaseTransport | None = ...,
    enterprise: Literal[False] = ...,
) -> AdminClient: ...
@overload
def new_client(
    settings: Settings,
    key: str,
    *,
    demo: bool = ...,
    transport: httpx.BaseTransport | None = ...,
    enterprise: Literal[True],
) -> AnalyticsClient: ...
@overload
def new_client(
    settings: Settings,
    key: str,
    *,
    demo: bool = ...,
    transport: httpx.BaseTransport | None = ...,
    enterprise: bool,
) -> Client: ...
def new_client(
    settings: Settings,
    key: str,
    *,
    demo: bool = False,
    transport: httpx.BaseTransport | None = None,
    enterprise: bool = False,
) -> Client:
    """A client for one run: an ``AnalyticsClient`` for an Enterprise organization, else an
    ``AdminClient``; ``transport`` is for tests (the simulator in-process). An Enterprise
    (Analytics API) client paces itself under the API's per-organization limit."""
    if demo:
        transport = _demo_transport(today())
    api: type[Client] = AnalyticsClient if enterprise else AdminClient
    return api(
        key,
        base_url=settings.anthropic_base_url,
        timeout=settings.http_timeout_seconds,
        deadline=settings.http_deadline_seconds,
        max_response_bytes=settings.http_max_response_mib * 2**20,
        transport=transport,
        max_retries=settings.max_retries,
        # The demo is served in-process: no rate limit to respect.
        requests_per_minute=(
            settings.enterprise_requests_per_minute if enterprise and not demo else None
        ),
    )


@functools.lru_cache(maxsize=2)
def _demo_transport(day: date) -> httpx.BaseTransport:
    # One simulator per day: its data is generated lazily and cached inside it.
    from app.simulator.demo import demo_simulator

    return demo_simulator(day).transport()


def keystore(settings: Settings) -> KeyStore:
    return KeyStore.from_settings(settings)
