"""Spend anomalies: the daily series checked after each sync, what is found stored as episodes,
explained by what drove it, notified once per episode, and triaged by people (issue 19).

The statistics are in ``app.finops.anomaly_detector`` (pure); this module reads the series from
the daily rollups (grouped in SQL, a few rows per organization and day), keeps the ``anomaly``
rows (``app.finops.anomaly_tables``) and sends ``anomaly.detected``.

Safe with two workers: a day of a series is one row (a unique constraint; inserts are ``ON
CONFLICT DO NOTHING``); a scan never changes a row's status, reason or ``notified_at``; and an
episode's notification is claimed by one conditional update before it is sent.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from app import clock
from app.db import affected_rows, is_sqlite, read_session, write_session
from app.finops.anomaly_tables import Anomaly, AnomalyScan, AnomalyStatus, Dimension
from app.models import CostDaily, CostLine, KeyCost, Organization, Provider, stored_cents
from app.reports.labels import null_label, token_type_label, value_label

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.services.access import Actor
    from app.settings import Settings

log = logging.getLogger(__name__)

# Complete days checked by each scan (the rest of the read window is the baseline's history).
CHECK_DAYS = 183
# An anomaly on a day more than this many days before it was first found is a backfill's: it
# is listed, never notified (PRODUCT.md: "older than 7 days when first found").
NOTIFY_WITHIN_DAYS = 7
# The event channels subscribe to (``finops channels add … --events anomaly.detected``).
EVENT = "anomaly.detected"
# What drove an anomaly: at most this many values, by the largest change against expected.
DRIVERS = 5
# The value key of spend without a model under the model dimension: by its cost type.
NO_MODEL_PREFIX = "cost_type:"
# The audit log's actions of triage.
ACK_ACTION = "anomaly_acknowledged"
DISMISS_ACTION = "anomaly_dismissed"


@dataclass(frozen=True)
class SeriesKey:
    """One daily spend series: an organization (pk), a dimension and a value key."""

    organization_pk: int
    dimension: str
    value_key: str


@dataclass
class Series:
    """The daily spend (exact cents by day) and first stored day of each series."""

    days: dict[SeriesKey, dict[date, Decimal]] = field(default_factory=dict)
    first: dict[SeriesKey, date] = field(default_factory=dict)


# The datasets a scan reads (the cost rollups and per-key cost, and the cost rows drivers are
# named from): an organization none of whose versions moved has the series its last scan saw.
SCANNED_DATASETS = ("cost", "key_cost")


# --- reading the series -------------------------------------------------------------------------


@lru_cache(maxsize=8192)  # a few hundred values recur on every day
def _value_key(dimension: str, value: str | None) -> str:
    """A series' value key from a rollup value: the workspace id ("" for the Default
    workspace), or, under the model dimension, ``_economics_key``."""
    if dimension == Dimension.MODEL:
        return _economics_key(value)
    return value or ""


def _economics_key(value: str | None) -> str:
    """The model dimension's value key of a compound ``economics`` value (cost type, model,
    tier): the model id, or ``cost_type:<cost type>`` for spend without a model."""
    from app.datasets import decode_value

    cost_type, model, _tier = decode_value(value) if value else (None, None, None)
    if model is not None:
        return str(model)
    return f"{NO_MODEL_PREFIX}{cost_type or ''}"


def _of_orgs(
    column: Any, organization_pk: int | None, organizations: Collection[int] | None
) -> list[Any]:
    """The conditions keeping the rows of one organization, or of ``organizations``."""
    out: list[Any] = [] if organization_pk is None else [column == organization_pk]
    if organizations is not None:
        out.append(column.in_(sorted(organizations)))
    return out


def read_series(
    session: Session,
    start: date,
    end: date,
    organization_pk: int | None = None,
    *,
    organizations: Collection[int] | None = None,
) -> Series:
    """Every organization's (or one's, or those of ``organizations``) daily spend per
    organization, workspace and model over ``[start, end)``, summed in SQL from the rollups
    (and per API key where per-key cost exists: ``_api_key_series``), and each series' first
    stored day over its whole history."""
    from app.datasets import ECONOMICS

    series = Series()
    c = CostDaily
    in_range = and_(col(c.date) >= start, col(c.date) < end)
    of_org = _of_orgs(col(c.organization_pk), organization_pk, organizations)
    queries: list[tuple[str, str]] = [
        (Dimension.ORGANIZATION, "cost_type"),  # every rollup dimension adds up to the total
        (Dimension.WORKSPACE, "workspace"),
        (Dimension.MODEL, ECONOMICS),
    ]
    for dimension, dim in queries:
        by_value = dimension != Dimension.ORGANIZATION
        group: list[Any] = [col(c.organization_pk)] + ([col(c.value)] if by_value else [])
        value: Any = col(c.value) if by_value else null()
        amounts = session.execute(
            select(col(c.organization_pk), value, col(c.date), func.sum(c.amount_cents))
            .where(col(c.dim) == dim, in_range, *of_org)
            .group_by(*group, col(c.date))
        ).all()
        firsts = session.execute(
            select(col(c.organization_pk), value, func.min(c.date))
            .where(col(c.dim) == dim, *of_org)
            .group_by(*group)
        ).all()
        for pk, stored, day, cents in amounts:
            key = SeriesKey(pk, dimension, _value_key(dimension, stored))
            per_day = series.days.setdefault(key, {})
            per_day[day] = per_day.get(day, Decimal(0)) + Decimal(cents)
        for pk, stored, day in firsts:
            key = SeriesKey(pk, dimension, _value_key(dimension, stored))
            if key not in series.first or day < series.first[key]:
                series.first[key] = day
    _api_key_series(session, start, end, series, of_orgs=(organization_pk, organizations))
    return series


def _api_key_series(
    session: Session,
    start: date,
    end: date,
    series: Series,
    of_orgs: tuple[int | None, Collection[int] | None],
) -> None:
    """Each organization's daily spend per API key, where per-key cost exists (PRODUCT.md
    "Per-key and per-actor billed cost": ``key_cost_line``, Console organizations whose
    Analytics API answers), summed in SQL; the null key ("Console / Workbench") is "". An
    organization without per-key cost has no such series."""
    k = KeyCost
    of_org = _of_orgs(col(k.organization_pk), *of_orgs)
    group = [col(k.organization_pk), col(k.api_key_id)]
    amounts = session.execute(
        select(*group, col(k.date), func.sum(k.amount_cents))
        .where(col(k.date) >= start, col(k.date) < end, *of_org)
        .group_by(*group, col(k.date))
    ).all()
    if not amounts:
        return
    for pk, key_id, day, cents in amounts:
        key = SeriesKey(pk, Dimension.API_KEY, key_id or "")
        per_day = series.days.setdefault(key, {})
        per_day[day] = per_day.get(day, Decimal(0)) + Decimal(cents)
    for pk, key_id, day in session.execute(
        select(*group, func.min(k.date)).where(*of_org).group_by(*group)
    ):
        series.first[SeriesKey(pk, Dimension.API_KEY, key_id or "")] = day


# --- the scan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """One anomalous day of one series, as the detector found it (cents)."""

    key: SeriesKey
    day: date
    actual: Decimal
    expected: Decimal
    low: Decimal
    high: Decimal

    @property
    def impact(self) -> Decimal:
        return self.actual - self.expected


def _cents(dollars: float) -> Decimal:
    """Dollars from the detector, as stored cents rounded to a cent (its figures are estimates:
    a cent is their precision)."""
    return stored_cents(Decimal(repr(float(dollars))).scaleb(2).quantize(Decimal(1)))


def find(series: Series, start: date, end: date, checked_from: date) -> list[Found]:
    """Run the detector over every series of ``[start, end)``; the anomalies on days from
    ``checked_from``."""
    import numpy as np

    from app.finops.anomaly_detector import detect

    keys = sorted(series.days, key=lambda k: (k.organization_pk, k.dimension, k.value_key))
    if not keys:
        return []
    n_days = (end - start).days
    x = np.full((len(keys), n_days), np.nan)
    first = np.zeros(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        first_day = series.first.get(key, start)
        first[i] = (first_day - start).days
        x[i, max(first[i], 0) :] = 0.0
        for day, cents in series.days[key].items():
            x[i, (day - start).days] = float(cents) / 100
    detection = detect(x, first, (checked_from - start).days)
    found = []
    for i, t in zip(*np.nonzero(detection.anomalous), strict=True):
        key = keys[int(i)]
        day = start + timedelta(days=int(t))
        found.append(
            Found(
                key=key,
                day=day,
                actual=series.days[key].get(day, Decimal(0)),
                expected=_cents(detection.expected[i, t]),
                low=_cents(detection.low[i, t]),
                high=_cents(detection.high[i, t]),
            )
        )
    return found


def detect_anomalies(
    engine: Engine, settings: Settings | None = None, *, full: bool = False
) -> list[int]:
    """The step after each sync (``AFTER_SYNC``): check every complete day of the last
    ``CHECK_DAYS`` of every series, store what is found (a day found again updates its row),
    and notify each new episode once. Returns the ids of the anomalies notified.

    Only the organizations whose scanned data changed (``SCANNED_DATASETS``' versions) or
    whose last scan checked through an earlier day (a day completed since) are read and
    stored again: the others' stored anomalies are what a scan would find (the detector reads
    each series on its own). ``full`` scans every organization."""
    from app.finops.anomaly_detector import LOOKBACK_DAYS

    end = clock.today()  # exclusive: today is not complete
    checked_from = end - timedelta(days=CHECK_DAYS)
    start = checked_from - timedelta(days=LOOKBACK_DAYS)
    with read_session(engine) as session:
        # Read before the series: a write committed in between is newer than what is
        # remembered, so the next scan reads that organization again.
        now_seen = _seen(session, end)
        due = now_seen if full else _changed(session, now_seen)
        if due:
            series = read_series(session, start, end, organizations=due)
            suppressed = _suppressions(session, checked_from)
    if due:
        found = [
            f for f in find(series, start, end, checked_from) if not _is_suppressed(f, suppressed)
        ]
        store(engine, found, checked_from, end, suppressed, organizations=due)
        _remember(engine, {pk: now_seen[pk] for pk in due})
    return notify_new_episodes(engine, settings, checked_from)


# The AFTER_SYNC entry: "app.finops.anomalies:detect".
detect = detect_anomalies


@dataclass(frozen=True)
class Seen:
    """What a scan of one organization sees: the organization (its ``created_at``: a pk may
    be given again after a deletion), the day it checks through and its data's versions."""

    created_at: datetime
    checked_through: date
    versions: str  # canonical JSON {dataset: version}, absent datasets left out


def _seen(session: Session, end: date) -> dict[int, Seen]:
    """Every organization as a scan checking through ``end`` sees it now."""
    from app.store.changes import versions

    by_org: dict[int, dict[str, int]] = defaultdict(dict)
    for (pk, dataset), version in versions(session, SCANNED_DATASETS).items():
        by_org[pk][dataset] = version
    return {
        pk: Seen(created_at, end, json.dumps(by_org.get(pk, {}), sort_keys=True))
        for pk, created_at in session.execute(
            select(col(Organization.id), col(Organization.created_at))
        )
    }


def _changed(session: Session, now_seen: dict[int, Seen]) -> dict[int, Seen]:
    """The organizations whose last completed scan saw something else (or that have none)."""
    last = {
        row.organization_pk: Seen(row.organization_created_at, row.checked_through, row.versions)
        for row in session.execute(select(AnomalyScan)).scalars()
    }
    return {pk: seen for pk, seen in now_seen.items() if last.get(pk) != seen}


def _remember(engine: Engine, scanned: dict[int, Seen]) -> None:
    """Keep what the scan of each of ``scanned`` saw (another worker's scan may have kept its
    own just now: the later write wins, and an older one only makes the next scan read that
    organization again), and drop the rows of deleted organizations."""
    insert: Any = sqlite_insert if is_sqlite(engine) else pg_insert
    now = clock.utcnow()
    rows = [
        {
            "organization_pk": pk,
            "organization_created_at": seen.created_at,
            "checked_through": seen.checked_through,
            "versions": seen.versions,
            "scanned_at": now,
        }
        for pk, seen in scanned.items()
    ]
    statement = insert(AnomalyScan)
    upsert = statement.on_conflict_do_update(
        index_elements=["organization_pk"],
        set_={k: statement.excluded[k] for k in rows[0] if k != "organization_pk"},
    )
    with write_session(engine) as session:
        session.execute(upsert, rows)
        session.execute(
            delete(AnomalyScan).where(
                col(AnomalyScan.organization_pk).not_in(select(col(Organization.id)))
            )
        )


def _suppressions(session: Session, since: date) -> dict[SeriesKey, list[tuple[date, date]]]:
    """Each series' suppressed windows ``[dismissed anomaly's day, suppressed_until)``."""
    rows = session.execute(
        select(
            col(Anomaly.organization_pk),
            col(Anomaly.dimension),
            col(Anomaly.value_key),
            col(Anomaly.date),
            col(Anomaly.suppressed_until),
        ).where(col(Anomaly.suppressed_until).is_not(None), col(Anomaly.suppressed_until) > since)
    ).all()
    out: dict[SeriesKey, list[tuple[date, date]]] = defaultdict(list)
    for pk, dimension, value_key, day, until in rows:
        out[SeriesKey(pk, dimension, value_key)].append((day, until))
    return out


def _is_suppressed(found: Found, suppressed: dict[SeriesKey, list[tuple[date, date]]]) -> bool:
    return any(start <= found.day < until for start, until in suppressed.get(found.key, ()))


def store(
    engine: Engine,
    found: Sequence[Found],
    checked_from: date,
    end: date,
    suppressed: dict[SeriesKey, list[tuple[date, date]]] | None = None,
    organizations: Collection[int] | None = None,
) -> None:
    """Make the stored anomalies of ``[checked_from, end)`` (of ``organizations``, when the
    scan read only theirs) what the scan found: new days are
    inserted (``ON CONFLICT DO NOTHING``: another worker may have just done it), days found
    again with other figures (restated) updated in place, episodes recomputed, and an open,
    never-notified anomaly whose day is no longer anomalous removed. Status, reason and
    notification are left alone."""
    suppressed = suppressed or {}
    now = clock.utcnow()
    episode_of = _episodes(found)
    insert: Any = sqlite_insert if is_sqlite(engine) else pg_insert
    with write_session(engine) as session:
        names = _names(session, {f.key for f in found})
        context = DriverContext.of(session)
        existing = {
            (SeriesKey(a.organization_pk, a.dimension, a.value_key), a.date): a
            for a in session.execute(
                select(Anomaly).where(
                    col(Anomaly.date) >= checked_from,
                    col(Anomaly.date) < end,
                    *_of_orgs(col(Anomaly.organization_pk), None, organizations),
                )
            ).scalars()
        }
        new_rows: list[dict[str, Any]] = []
        for f in found:
            row = existing.pop((f.key, f.day), None)
            value_id, value_name = names[f.key]
            figures = {
                "actual_cents": f.actual,
                "expected_cents": f.expected,
                "low_cents": f.low,
                "high_cents": f.high,
                "impact_cents": f.impact,
            }
            if row is None:
                new_rows.append(
                    {
                        "organization_pk": f.key.organization_pk,
                        "date": f.day,
                        "dimension": f.key.dimension,
                        "value_key": f.key.value_key,
                        "value_id": value_id,
                        "value_name": value_name,
                        **figures,
                        "status": AnomalyStatus.OPEN.value,
                        "episode_start": episode_of[(f.key, f.day)],
                        "drivers": json.dumps(drivers(session, f, context)),
                        "first_found_at": now,
                        "updated_at": now,
                    }
                )
                continue
            changes: dict[str, Any] = {
                k: v for k, v in figures.items() if stored_cents(getattr(row, k)) != v
            }
            if row.episode_start != episode_of[(f.key, f.day)]:
                changes["episode_start"] = episode_of[(f.key, f.day)]
            if row.value_name != value_name:
                changes["value_name"] = value_name
            if "actual_cents" in changes or "expected_cents" in changes:
                changes["drivers"] = json.dumps(drivers(session, f, context))
            if changes:
                changes["updated_at"] = now
                session.execute(update(Anomaly).where(col(Anomaly.id) == row.id).values(**changes))
        if new_rows:
            session.execute(insert(Anomaly).on_conflict_do_nothing(), new_rows)
        # What is left was not found again: its day was restated below the range.
        gone = [
            a.id
            for (key, day), a in existing.items()
            if a.status == AnomalyStatus.OPEN
            and a.notified_at is None
            and not any(s <= day < u for s, u in suppressed.get(key, ()))
        ]
        if gone:
            session.execute(
                delete(Anomaly).where(
                    col(Anomaly.id).in_(gone),
                    col(Anomaly.status) == AnomalyStatus.OPEN,
                    col(Anomaly.notified_at).is_(None),
                )
            )


def _episodes(found: Iterable[Found]) -> dict[tuple[SeriesKey, date], date]:
    """Each anomalous day's episode: the first day of its run of consecutive anomalous days."""
    by_series: dict[SeriesKey, list[date]] = defaultdict(list)
    for f in found:
        by_series[f.key].append(f.day)
    out: dict[tuple[SeriesKey, date], date] = {}
    for key, days in by_series.items():
        start: date | None = None
        previous: date | None = None
        for day in sorted(days):
            if previous is None or day - previous > timedelta(days=1):
                start = day
            assert start is not None
            out[(key, day)] = start
            previous = day
    return out


# --- names and drivers ----------------------------------------------------------------------------


def _names(session: Session, keys: Iterable[SeriesKey]) -> dict[SeriesKey, tuple[str | None, str]]:
    """The value (id people see, name) of each series, named as the dashboards name them."""
    from app.reports.names import namer

    keys = list(keys)
    out: dict[SeriesKey, tuple[str | None, str]] = {}
    if not keys:
        return out
    orgs = {
        pk: (oid, provider)
        for pk, oid, provider in session.execute(
            select(
                col(Organization.id), col(Organization.organization_id), col(Organization.provider)
            )
        )
    }
    org_namer = namer(session, "organization")
    workspaces = namer(session, "workspace")
    api_keys = namer(session, "api_key")
    by_org: dict[int, list[SeriesKey]] = defaultdict(list)
    for key in keys:
        by_org[key.organization_pk].append(key)
    for pk, org_keys in by_org.items():
        organization_id, provider = orgs.get(pk, (str(pk), Provider.CONSOLE))
        enterprise = provider == Provider.ENTERPRISE
        ws_keys = [
            (pk, k.value_key or None, None) for k in org_keys if k.dimension == Dimension.WORKSPACE
        ]
        ws_labels = workspaces.labels(ws_keys) if ws_keys else {}
        key_keys = [
            (pk, k.value_key or None, None) for k in org_keys if k.dimension == Dimension.API_KEY
        ]
        key_labels = api_keys.labels(key_keys) if key_keys else {}
        for key in org_keys:
            if key.dimension == Dimension.ORGANIZATION:
                out[key] = (organization_id, org_namer.organization_names.get(pk, organization_id))
            elif key.dimension == Dimension.WORKSPACE:
                value = key.value_key or None
                out[key] = (value, ws_labels[(pk, value, None)])
            elif key.dimension == Dimension.API_KEY:
                value = key.value_key or None
                out[key] = (value, key_labels[(pk, value, None)])
            elif key.value_key.startswith(NO_MODEL_PREFIX):
                cost_type = key.value_key.removeprefix(NO_MODEL_PREFIX) or None
                out[key] = (None, null_label("model", enterprise=enterprise, cost_type=cost_type))
            else:
                out[key] = (key.value_key, value_label(key.dimension, key.value_key))
    return out


@dataclass(frozen=True)
class DriverContext:
    """What naming drivers needs, read once per scan: the workspace names and which
    organizations are Claude Enterprise ones."""

    workspaces: Any  # app.reports.names.Namer
    enterprise: frozenset[int]

    @classmethod
    def of(cls, session: Session) -> DriverContext:
        from app.reports.names import namer

        workspaces = namer(session, "workspace")
        return cls(workspaces, workspaces.enterprise)


def drivers(session: Session, f: Found, context: DriverContext) -> list[dict[str, Any]]:
    """What drove an anomaly: the workspaces, models and token types (those other than the
    anomaly's own dimension) of its series whose spend that day changed most against what they
    usually spend on that weekday (the median of the four weeks before), largest increase
    first. Read from the cost rows of five days of one organization."""
    # A key's spend is in the per-key cost rows; every other series' in the cost report's.
    c: Any = KeyCost if f.key.dimension == Dimension.API_KEY else CostLine
    days = [f.day - timedelta(days=7 * k) for k in range(5)]
    scope: list[Any] = [col(c.organization_pk) == f.key.organization_pk, col(c.date).in_(days)]
    if f.key.dimension == Dimension.WORKSPACE:
        ws = f.key.value_key or None
        scope.append(col(c.workspace_id).is_(None) if ws is None else col(c.workspace_id) == ws)
    elif f.key.dimension == Dimension.API_KEY:
        key_id = f.key.value_key or None
        scope.append(col(c.api_key_id).is_(None) if key_id is None else col(c.api_key_id) == key_id)
    elif f.key.dimension == Dimension.MODEL:
        if f.key.value_key.startswith(NO_MODEL_PREFIX):
            cost_type = f.key.value_key.removeprefix(NO_MODEL_PREFIX) or None
            scope.append(col(c.model).is_(None))
            scope.append(
                col(c.cost_type).is_(None) if cost_type is None else col(c.cost_type) == cost_type
            )
        else:
            scope.append(col(c.model) == f.key.value_key)
    rows = session.execute(
        select(
            col(c.date),
            col(c.workspace_id),
            col(c.model),
            col(c.cost_type),
            col(c.token_type),
            func.sum(c.amount_cents),
        )
        .where(*scope)
        .group_by(
            col(c.date), col(c.workspace_id), col(c.model), col(c.cost_type), col(c.token_type)
        )
    ).all()
    kinds = [k for k in ("workspace", "model", "token_type") if k != f.key.dimension]
    # kind -> value -> day -> cents
    spend: dict[str, dict[Any, dict[date, Decimal]]] = {k: defaultdict(dict) for k in kinds}
    for day, workspace, model, cost_type, token_type, cents in rows:
        values = {
            "workspace": workspace,
            "model": model if model is not None else (NO_MODEL_PREFIX, cost_type),
            "token_type": token_type if token_type is not None else (NO_MODEL_PREFIX, cost_type),
        }
        for kind in kinds:
            per_day = spend[kind][values[kind]]
            per_day[day] = per_day.get(day, Decimal(0)) + Decimal(cents)
    enterprise = f.key.organization_pk in context.enterprise
    out = []
    for kind in kinds:
        for value, per_day in spend[kind].items():
            before = sorted(per_day.get(d, Decimal(0)) for d in days[1:])
            expected = (before[1] + before[2]) / 2
            actual = per_day.get(f.day, Decimal(0))
            change = actual - expected
            if change <= 0:
                continue
            out.append(
                {
                    "dimension": kind,
                    **_driver_value(
                        kind, value, f.key.organization_pk, enterprise, context.workspaces
                    ),
                    "actual_usd": usd(actual),
                    "expected_usd": usd(expected),
                    "change_usd": usd(change),
                }
            )
    out.sort(key=lambda d: (-d["change_usd"], d["dimension"], d["name"]))
    return out[:DRIVERS]


def _driver_value(
    kind: str, value: Any, pk: int, enterprise: bool, ws_namer: Any
) -> dict[str, Any]:
    """A driver's ``id`` and ``name``, labelled as the dashboards label them."""
    if isinstance(value, tuple):  # no model or token type: named by its cost type
        group = "model" if kind == "model" else "token_type"
        return {"id": None, "name": null_label(group, enterprise=enterprise, cost_type=value[1])}
    if kind == "workspace":
        return {"id": value, "name": ws_namer.labels([(pk, value, None)])[(pk, value, None)]}
    if kind == "token_type":
        return {"id": value, "name": token_type_label(value)}
    return {"id": value, "name": value_label(kind, value)}


def usd(cents: Decimal) -> float:
    """Dollars as a JSON number: the exact cents / 100 (a float's shortest text reads back as
    the same decimal for any amount a bill has)."""
    return float(cents.scaleb(-2))


# --- notification ---------------------------------------------------------------------------------


def notify_channels(
    engine: Engine, settings: Settings | None, data: dict[str, Any], impact_usd: Decimal
) -> list[int]:
    """The one call site of delivery: ``anomaly.detected`` to every channel subscribed to it
    whose minimum impact this anomaly reaches (``app.finops.delivery.notify``, which records
    each delivery, retries it and never raises)."""
    from app.finops.delivery import notify
    from app.settings import get_settings

    return notify(engine, settings or get_settings(), EVENT, data, impact_usd=impact_usd)


def notify_new_episodes(engine: Engine, settings: Settings | None, since: date) -> list[int]:
    """Send ``anomaly.detected`` once for each episode (consecutive anomalous days of one
    series) that has not been notified and has a day found within ``NOTIFY_WITHIN_DAYS`` of
    it: its earliest such anomaly is claimed (a conditional update: of two workers, one wins)
    and sent. Anomalies of a backfill (days older than that when first found) are not sent;
    nor are dismissed ones. Returns the ids notified."""
    with read_session(engine) as session:
        rows = list(
            session.execute(
                select(Anomaly)
                .where(col(Anomaly.date) >= since)
                .order_by(
                    col(Anomaly.organization_pk),
                    col(Anomaly.dimension),
                    col(Anomaly.value_key),
                    col(Anomaly.date),
                )
            ).scalars()
        )
    episodes: dict[tuple[SeriesKey, date], list[Anomaly]] = defaultdict(list)
    for a in rows:
        episodes[(SeriesKey(a.organization_pk, a.dimension, a.value_key), a.episode_start)].append(
            a
        )
    notified: list[int] = []
    for (key, start), members in episodes.items():
        if any(a.notified_at is not None for a in members):
            continue
        fresh = [
            a
            for a in members
            if (a.first_found_at.date() - a.date).days <= NOTIFY_WITHIN_DAYS
            and a.status != AnomalyStatus.DISMISSED
        ]
        if not fresh:
            continue
        chosen = fresh[0]
        if not _claim(engine, chosen, key, start, members[-1].date):
            continue
        data = list_anomalies(engine, ids=[chosen.id or 0])
        if not data:
            continue
        try:
            notify_channels(engine, settings, data[0], chosen.impact_cents.scaleb(-2))
        except Exception:
            log.exception("anomaly.detected for anomaly %s could not be handed over", chosen.id)
        notified.append(chosen.id or 0)
    return notified


def _claim(engine: Engine, chosen: Anomaly, key: SeriesKey, start: date, last: date) -> bool:
    """Mark ``chosen`` notified unless its episode already is (by another worker, just now)."""
    other = aliased(Anomaly)
    notified_in_episode = (
        select(col(other.id))
        .where(
            col(other.organization_pk) == key.organization_pk,
            col(other.dimension) == key.dimension,
            col(other.value_key) == key.value_key,
            col(other.date) >= start,
            col(other.date) <= last,
            col(other.notified_at).is_not(None),
        )
        .exists()
    )
    with write_session(engine) as session:
        claimed = affected_rows(
            session.execute(
                update(Anomaly)
                .where(
                    col(Anomaly.id) == chosen.id,
                    col(Anomaly.notified_at).is_(None),
                    ~notified_in_episode,
                )
                .values(notified_at=clock.utcnow())
            )
        )
    return claimed == 1


# --- listing and triage ---------------------------------------------------------------------------


def list_anomalies(
    engine: Engine,
    *,
    start: date | None = None,
    end: date | None = None,
    ids: Sequence[int] | None = None,
    organization_pk: int | None = None,
) -> list[dict[str, Any]]:
    """Anomalies as ``finops anomalies --json`` shows them (``[start, end)``; by default the
    last 30 days), by day then largest impact first."""
    shown = func.coalesce(col(Organization.label), col(Organization.name))
    query = select(Anomaly, col(Organization.organization_id), shown).join(
        Organization, col(Organization.id) == col(Anomaly.organization_pk)
    )
    if ids is not None:
        query = query.where(col(Anomaly.id).in_(list(ids)))
    else:
        end = end or clock.today()
        start = start or end - timedelta(days=30)
        query = query.where(col(Anomaly.date) >= start, col(Anomaly.date) < end)
    if organization_pk is not None:
        query = query.where(col(Anomaly.organization_pk) == organization_pk)
    with read_session(engine) as session:
        rows = session.execute(query).all()
        episode_ids = _episode_ids(session, [a for a, *_ in rows])
    out = [as_json(a, oid, episode_ids.get(a.id or 0), name) for a, oid, name in rows]
    out.sort(key=lambda d: (d["date"], d["impact_usd"]), reverse=True)
    return out


def _episode_ids(session: Session, anomalies: list[Anomaly]) -> dict[int, int]:
    """Each anomaly's episode id: the id of its episode's first day's anomaly."""
    wanted = {(a.organization_pk, a.dimension, a.value_key, a.episode_start) for a in anomalies}
    if not wanted:
        return {}
    firsts: dict[tuple[int, str, str, date], int] = {}
    pks = sorted({w[0] for w in wanted})
    starts = sorted({w[3] for w in wanted})
    for pk, dimension, value_key, day, aid in session.execute(
        select(
            col(Anomaly.organization_pk),
            col(Anomaly.dimension),
            col(Anomaly.value_key),
            col(Anomaly.date),
            col(Anomaly.id),
        ).where(col(Anomaly.organization_pk).in_(pks), col(Anomaly.date).in_(starts))
    ):
        firsts[(pk, dimension, value_key, day)] = aid
    return {
        a.id or 0: firsts.get(
            (a.organization_pk, a.dimension, a.value_key, a.episode_start), a.id or 0
        )
        for a in anomalies
    }


def as_json(
    a: Anomaly,
    organization_id: str,
    episode_id: int | None = None,
    organization_name: str | None = None,
) -> dict[str, Any]:
    """One anomaly as ``finops anomalies --json`` (and ``anomaly.detected``'s ``data``) show it."""
    return {
        "id": a.id,
        "date": a.date.isoformat(),
        "organization_id": organization_id,
        "organization_name": organization_name,
        "dimension": a.dimension,
        "value": {"id": a.value_id, "name": a.value_name},
        "actual_usd": usd(a.actual_cents),
        "expected_usd": usd(a.expected_cents),
        "low_usd": usd(a.low_cents),
        "high_usd": usd(a.high_cents),
        "impact_usd": usd(a.impact_cents),
        "status": a.status,
        "reason": a.reason,
        "episode_id": episode_id if episode_id is not None else a.id,
        "episode_start": a.episode_start.isoformat(),
        "drivers": json.loads(a.drivers) if a.drivers else [],
        "suppressed_until": a.suppressed_until.isoformat() if a.suppressed_until else None,
        "first_found_at": _iso(a.first_found_at),
        "notified_at": _iso(a.notified_at),
    }


def _iso(moment: datetime | None) -> str | None:
    from app.clock import rfc3339

    return rfc3339(moment) if moment is not None else None


class UnknownAnomaly(LookupError):
    """No anomaly has that id."""


def triage(
    engine: Engine,
    *,
    actor: Actor,
    anomaly_id: int,
    status: AnomalyStatus,
    reason: str,
    suppress_days: int | None = None,
) -> dict[str, Any]:
    """Acknowledge or dismiss an anomaly with a reason (admins only), audited in the same
    transaction; a dismissal may suppress its series for ``suppress_days`` from its day (no new
    anomaly of the series in that window). Returns the anomaly as listed."""
    from app.services.access import require_admin
    from app.services.audit import record

    require_admin(actor, "triage anomalies")
    reason = reason.strip()
    if not reason:
        raise ValueError("A reason is required.")
    if status not in (AnomalyStatus.ACKNOWLEDGED, AnomalyStatus.DISMISSED):
        raise ValueError(f"An anomaly can be acknowledged or dismissed, not {status}.")
    if suppress_days is not None and (status != AnomalyStatus.DISMISSED or suppress_days < 1):
        raise ValueError("--suppress-days is a whole number of days (1 or more) of a dismissal.")
    with write_session(engine) as session:
        row = session.get(Anomaly, anomaly_id)
        if row is None:
            raise UnknownAnomaly(f"No anomaly has id {anomaly_id} (see `finops anomalies`).")
        organization_id = session.execute(
            select(col(Organization.organization_id)).where(
                col(Organization.id) == row.organization_pk
            )
        ).scalar_one()
        values: dict[str, Any] = {
            "status": status.value,
            "reason": reason,
            "triaged_by": actor.email,
            "triaged_at": clock.utcnow(),
        }
        if suppress_days is not None:
            values["suppressed_until"] = row.date + timedelta(days=suppress_days)
        session.execute(update(Anomaly).where(col(Anomaly.id) == anomaly_id).values(**values))
        detail = (
            f"anomaly {anomaly_id}: {row.dimension} {row.value_name!r} on {row.date}, "
            f"{status.value}: {reason}"
        )
        if suppress_days is not None:
            detail += f" (series suppressed until {values['suppressed_until']})"
        record(
            session,
            actor=actor.email,
            action=ACK_ACTION if status == AnomalyStatus.ACKNOWLEDGED else DISMISS_ACTION,
            target=organization_id,
            detail=detail,
        )
    return list_anomalies(engine, ids=[anomaly_id])[0]


# --- the chart's data -----------------------------------------------------------------------------


def series_days(
    engine: Engine, organization_pk: int, dimension: str, value_key: str, start: date, end: date
) -> list[tuple[date, Decimal]]:
    """The daily spend (cents) of one series over ``[start, end)``, every day (0 where none)."""
    with read_session(engine) as session:
        series = read_series(session, start, end, organization_pk)
    per_day = series.days.get(SeriesKey(organization_pk, dimension, value_key), {})
    return [
        (start + timedelta(days=n), per_day.get(start + timedelta(days=n), Decimal(0)))
        for n in range((end - start).days)
    ]


def anomaly_series_key(engine: Engine, anomaly_id: int) -> tuple[int, str, str] | None:
    """(organization pk, dimension, value key) of an anomaly's series."""
    with read_session(engine) as session:
        row = session.get(Anomaly, anomaly_id)
        return None if row is None else (row.organization_pk, row.dimension, row.value_key)
