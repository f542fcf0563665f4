"""The client of the Claude Enterprise Analytics API: usage and cost (grouped by product and
model, or daily totals), per-user cost and usage reports, and engagement summaries."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from app.anthropic.base import BaseClient, Describe, Params
from app.anthropic.errors import (
    InvalidRequest,
    MalformedResponse,
    describe_analytics_status,
    describe_report_not_found,
)
from app.anthropic.records import user_row_day
from app.anthropic.schemas import ReportPage
from app.clock import midnight, rfc3339

log = logging.getLogger(__name__)

# One cost/usage query spans at most 31 days; the per-day dimensions we keep.
ANALYTICS_MAX_DAYS = 31
ANALYTICS_GROUP_BY = ("product", "model")
# Each bucket of the Analytics API holds at most its top 100 groups; beyond that, the rest of
# the day's total comes from the ungrouped report.
ANALYTICS_TOP_GROUPS = 100
ANALYTICS_USER_LIMIT = 1000
# The cost and usage endpoints (their last path segment): 401/403 for a bad key, never 404.
COST_USAGE_REPORTS = frozenset(
    {"usage_report", "cost_report", "user_usage_report", "user_cost_report", "usage", "cost"}
)


class AnalyticsClient(BaseClient):
    """The Claude Enterprise Analytics API, with an Analytics key; its errors read as that
    API's (``describe_analytics_status``). Give it ``requests_per_minute``: the API allows 60
    requests a minute per organization."""

    # The Analytics API answers 404 for a key that is missing, invalid or lacks the scope.
    key_rejected_statuses: ClassVar[frozenset[int]] = frozenset({401, 403, 404})

    @staticmethod
    def _describe(status: int, error_type: str | None, api_message: str | None) -> str:
        return describe_analytics_status(status, error_type, api_message)

    def _errors_of(self, path: str) -> tuple[Describe, frozenset[int]]:
        """The cost and usage reports refuse a bad key with 401/403; a 404 there is no key
        problem (``describe_report_not_found``), so it does not stop the organization."""
        if path.rsplit("/", 1)[-1] not in COST_USAGE_REPORTS:
            return self._describe, self.key_rejected_statuses

        def describe(status: int, error_type: str | None, api_message: str | None) -> str:
            if status == 404:
                return describe_report_not_found(path, api_message)
            return describe_analytics_status(status, error_type, api_message)

        return describe, frozenset({401, 403})

    # What this API turned out to refuse or ignore, learnt once per client (set on the
    # instance when learnt).
    _user_reports_bucketed: bool = True
    _analytics_grouping: bool = True

    def iter_analytics_usage_pages(
        self, start: datetime, end: datetime, *, grouped: bool = True
    ) -> Iterator[ReportPage]:
        """Enterprise daily usage buckets in ``[start, end)`` (at most 31 days), by product and
        model unless ``grouped`` is False (one total row per day)."""
        path = "/v1/organizations/analytics/usage_report"
        yield from self._analytics_report(path, start, end, grouped)

    def iter_analytics_cost_pages(
        self, start: datetime, end: datetime, *, grouped: bool = True
    ) -> Iterator[ReportPage]:
        """Enterprise daily cost buckets in ``[start, end)`` (at most 31 days), by product and
        model unless ``grouped`` is False (one total row per day)."""
        path = "/v1/organizations/analytics/cost_report"
        yield from self._analytics_report(path, start, end, grouped)

    def _analytics_report(
        self, path: str, start: datetime, end: datetime, grouped: bool
    ) -> Iterator[ReportPage]:
        params: Params = [
            ("starting_at", rfc3339(start)),
            ("ending_at", rfc3339(end)),
            ("bucket_width", "1d"),
            ("limit", str(self._buckets_per_page)),
        ]
        if not (grouped and self._analytics_grouping):
            yield from self._report(path, params)
            return
        pages = self._report(path, params + [("group_by[]", g) for g in ANALYTICS_GROUP_BY])
        try:
            first = next(pages, None)
        except InvalidRequest as exc:
            # Refused with the grouping: if the same query without it is accepted, the
            # grouping was the problem, and exact totals (without product and model) beat none.
            plain = self._report(path, params)
            first = next(plain, None)
            log.warning("The Analytics API refused group_by (%s); fetching daily totals", exc)
            self._analytics_grouping = False
            pages = plain
        if first is not None:
            yield first
            yield from pages

    def iter_user_report(
        self, kind: str, start: date, end: date
    ) -> Iterator[tuple[date, list[dict[str, Any]]]]:
        """Per-user rows of ``user_cost_report`` or ``user_usage_report`` for ``[start, end)``, as
        (day, rows) per day in order. Asks for daily buckets; if the API answers with rows that
        aggregate the whole range instead, falls back to one query per day."""
        path = f"/v1/organizations/analytics/{kind}"
        if self._user_reports_bucketed and (end - start).days > 1:
            params: Params = [
                ("starting_at", rfc3339(midnight(start))),
                ("ending_at", rfc3339(midnight(end))),
                ("bucket_width", "1d"),
                ("limit", str(ANALYTICS_USER_LIMIT)),
            ]
            by_day: dict[date, list[dict[str, Any]]] = {}
            bucketed = True
            try:
                bodies = self._record_pages(path, params)
            except InvalidRequest as exc:
                log.info("The Analytics API refused bucket_width for %s (%s)", kind, exc)
                bodies, bucketed = [], False
            for body in bodies:
                for row in body.get("data") or []:
                    if not isinstance(row, dict):
                        continue
                    _refreshed(row, body)
                    start_text = row.get("starting_at")
                    if not isinstance(start_text, str) or not start_text:
                        bucketed = False
                        break
                    day = user_row_day(row)
                    assert day is not None
                    by_day.setdefault(day, []).append(row)
                if not bucketed:
                    break
            if bucketed:
                for offset in range((end - start).days):
                    day = start + timedelta(days=offset)
                    yield day, by_day.get(day, [])
                return
            log.info("The Analytics API ignored bucket_width for %s; asking day by day", kind)
            self._user_reports_bucketed = False
        for offset in range((end - start).days):
            day = start + timedelta(days=offset)
            params = [
                ("starting_at", rfc3339(midnight(day))),
                ("ending_at", rfc3339(midnight(day + timedelta(days=1)))),
                ("limit", str(ANALYTICS_USER_LIMIT)),
            ]
            rows = [
                _refreshed(row, body)
                for body in self._record_pages(path, params)
                for row in body.get("data") or []
                if isinstance(row, dict)
            ]
            yield day, rows

    def get_summaries(self, start: date, end: date) -> list[dict[str, Any]]:
        """Engagement summaries, one per day of ``[start, end)``."""
        body = self._get_json(
            "/v1/organizations/analytics/summaries",
            [("starting_date", start.isoformat()), ("ending_date", end.isoformat())],
        )
        # ``data`` (the analytics envelope); ``summaries`` is its deprecated alias (§14.8).
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list) and isinstance(body, dict):
            items = body.get("summaries")
        if not isinstance(items, list):
            raise MalformedResponse("Anthropic returned engagement summaries without a list.")
        return [item for item in items if isinstance(item, dict)]

    def test_analytics(self, today: date) -> None:
        """The cheap probe of an Analytics key: a few days of engagement summaries."""
        self.get_summaries(today - timedelta(days=4), today - timedelta(days=3))


def _refreshed(row: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The row with its page's ``data_refreshed_at`` (the "data as of" the row is kept with),
    unless the row carries its own."""
    refreshed = body.get("data_refreshed_at")
    if refreshed is not None and "data_refreshed_at" not in row:
        row["data_refreshed_at"] = refreshed
    return row
