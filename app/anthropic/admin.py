"""The client of the Anthropic Admin API (Console organizations): the organization, its
workspaces and API keys, the usage and cost reports, and the Claude Code report."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from datetime import date, datetime
from functools import partial
from typing import Any

from app.anthropic.base import BaseClient, Describe, Params
from app.anthropic.errors import (
    USAGE_COST_ANALYTICS_BETA,
    InvalidRequest,
    MalformedResponse,
    describe_usage_cost_analytics,
)
from app.anthropic.paging import Paginator, PagingErrors
from app.anthropic.schemas import OrganizationInfo, ReportPage
from app.clock import midnight, rfc3339

# Five dimensions: the observed cap of usage_report (a sixth gives a permanent 400).
USAGE_GROUP_BY = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")
COST_GROUP_BY = ("workspace_id", "description")
CLAUDE_CODE_LIMIT = 1000
# The Usage and Cost Analytics API (beta, reference §13): per-key cost of a Console organization.
ANALYTICS_COST_PATH = "/v1/organizations/analytics/cost"
ANALYTICS_USAGE_PATH = "/v1/organizations/analytics/usage"
KEY_COST_GROUP_BY = (
    "workspace_id",
    "api_key_id",
    "actor",
    "model",
    "service_tier",
    "cost_type",
    "token_type",
)
# /analytics/usage by the usage report's dimensions, the actor, and the geography.
KEY_USAGE_GROUP_BY = (
    "workspace_id",
    "api_key_id",
    "actor",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
)
# Rows per page: the default and maximum are UNCONFIRMED; refused, the API's default is used.
ANALYTICS_LIMIT = 1000


class AdminClient(BaseClient):
    """The Admin API, with an Admin key (``sk-ant-admin01-...``); its errors read as the
    Admin API's (``describe_status``: 401 and 403 refuse the key)."""

    def _headers_of(self, path: str) -> dict[str, str]:
        if path in (ANALYTICS_COST_PATH, ANALYTICS_USAGE_PATH):
            return {"anthropic-beta": USAGE_COST_ANALYTICS_BETA}
        return {}

    def _errors_of(self, path: str) -> tuple[Describe, frozenset[int]]:
        """The Analytics endpoints feed per-key cost only: a 403 or 404 there says so and is no
        verdict on the key, which the other reports just accepted (only a 401 refuses it)."""
        if path == ANALYTICS_COST_PATH:
            return describe_usage_cost_analytics, frozenset({401})
        if path == ANALYTICS_USAGE_PATH:
            return partial(describe_usage_cost_analytics, what="Per-key usage"), frozenset({401})
        return self._describe, self.key_rejected_statuses

    def get_organization(self) -> OrganizationInfo:
        """``GET /v1/organizations/me``: which organization the key belongs to."""
        body = self._get_json("/v1/organizations/me", [])
        if not isinstance(body, dict) or not body.get("id"):
            raise MalformedResponse("Anthropic returned an organization without an id.")
        return OrganizationInfo(id=str(body["id"]), name=str(body.get("name") or body["id"]))

    def iter_workspaces(self) -> Iterator[dict[str, Any]]:
        """Every workspace, archived ones included (old usage keeps its name)."""
        yield from self._list("/v1/organizations/workspaces", [("include_archived", "true")])

    def iter_api_keys(self) -> Iterator[dict[str, Any]]:
        yield from self._list("/v1/organizations/api_keys", [])

    def iter_usage_pages(
        self, start: datetime, end: datetime, days_per_page: int | None = None
    ) -> Generator[ReportPage, None, None]:
        """Daily usage buckets in ``[start, end)``, grouped by the five product dimensions.
        ``days_per_page``: the buckets asked per page (the client's own, at most 31, if None)."""
        yield from self._daily_report(
            "/v1/organizations/usage_report/messages", USAGE_GROUP_BY, start, end, days_per_page
        )

    def iter_cost_pages(
        self, start: datetime, end: datetime, days_per_page: int | None = None
    ) -> Generator[ReportPage, None, None]:
        """Daily cost buckets in ``[start, end)``, grouped by workspace and description.
        ``days_per_page``: as for ``iter_usage_pages``."""
        yield from self._daily_report(
            "/v1/organizations/cost_report", COST_GROUP_BY, start, end, days_per_page
        )

    def _daily_report(
        self,
        path: str,
        group_by: Sequence[str],
        start: datetime,
        end: datetime,
        days_per_page: int | None,
    ) -> Generator[ReportPage, None, None]:
        """One daily report's pages: the query both reports share, and the page budget."""
        params: Params = [
            ("starting_at", rfc3339(start)),
            ("ending_at", rfc3339(end)),
            ("bucket_width", "1d"),
            ("limit", str(self.days_per_page(days_per_page))),
        ]
        params += [("group_by[]", g) for g in group_by]
        yield from self._report(path, params, budget=self._budgeted(params))

    @staticmethod
    def _budgeted(params: Params) -> bool:
        """Pages of several days are held to the page budget; a one-day page cannot shrink
        further and is read up to the size cap."""
        return dict(params).get("limit", "1") != "1"

    def iter_claude_code(self, day: date) -> Iterator[list[dict[str, Any]]]:
        """Pages of one UTC day's Claude Code records (one request series per day)."""
        params: Params = [("starting_at", day.isoformat()), ("limit", str(CLAUDE_CODE_LIMIT))]
        for body in self._record_pages("/v1/organizations/usage_report/claude_code", params):
            yield [item for item in body.get("data") or [] if isinstance(item, dict)]

    _analytics_limit: str | None = str(ANALYTICS_LIMIT)

    def iter_key_cost(self, start: date, end: date) -> list[dict[str, Any]]:
        """Every row of ``/analytics/cost`` for the whole UTC days ``[start, end)``, one row per
        day and combination of ``KEY_COST_GROUP_BY`` with cost, whole (all pages): rows are
        ranked, not in day order, so a query is stored only once it is complete. ``has_more``
        may be absent (UNCONFIRMED): then a ``next_page`` cursor says more follow."""
        return self._analytics_rows(ANALYTICS_COST_PATH, KEY_COST_GROUP_BY, start, end)

    def iter_key_usage(self, start: date, end: date) -> list[dict[str, Any]]:
        """Every row of ``/analytics/usage`` for the whole UTC days ``[start, end)`` by
        ``KEY_USAGE_GROUP_BY``, whole, as ``iter_key_cost``."""
        return self._analytics_rows(ANALYTICS_USAGE_PATH, KEY_USAGE_GROUP_BY, start, end)

    def _analytics_rows(
        self, path: str, group_by: tuple[str, ...], start: date, end: date
    ) -> list[dict[str, Any]]:
        params: Params = [
            ("starting_at", rfc3339(midnight(start))),
            ("ending_at", rfc3339(midnight(end))),
            ("time_bucket_width", "1d"),
        ]
        params += [("group_by[]", g) for g in group_by]
        limit = self._analytics_limit
        try:
            bodies = self._analytics_series(path, params + ([("limit", limit)] if limit else []))
        except InvalidRequest as exc:
            if limit is None or "limit" not in str(exc):
                raise
            self._analytics_limit = None  # the API's own page size, from now on
            bodies = self._analytics_series(path, params)
        return [row for body in bodies for row in body["data"] if isinstance(row, dict)]

    def _analytics_series(self, path: str, params: Params) -> list[dict[str, Any]]:

        def more(body: dict[str, Any]) -> bool:
            flag = body.get("has_more")
            return flag if isinstance(flag, bool) else bool(body.get("next_page"))

        return Paginator[dict[str, Any]](
            fetch=lambda cursor: self._data_body(
                path, params + ([("page", cursor)] if cursor else []), "page"
            ),
            next_cursor=lambda body: str(body["next_page"]) if body.get("next_page") else None,
            has_more=more,
            errors=PagingErrors(
                missing=f"Anthropic said more pages of {path} follow but sent no cursor; "
                "stopping so nothing is skipped. The next sync tries again.",
                repeated=f"Anthropic repeated a page cursor of {path}; stopping.",
                too_many=f"Stopped after {{pages}} pages of {path}.",
            ),
            name=path,
        ).collect()
