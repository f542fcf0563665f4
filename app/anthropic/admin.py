"""The client of the Anthropic Admin API (Console organizations): the organization, its
workspaces and API keys, the usage and cost reports, and the Claude Code report."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from app.anthropic.base import BaseClient, Params
from app.anthropic.errors import MalformedResponse
from app.anthropic.schemas import OrganizationInfo, ReportPage
from app.clock import rfc3339

# Five dimensions: the observed cap of usage_report (a sixth gives a permanent 400).
USAGE_GROUP_BY = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")
COST_GROUP_BY = ("workspace_id", "description")
CLAUDE_CODE_LIMIT = 1000


class AdminClient(BaseClient):
    """The Admin API, with an Admin key (``sk-ant-admin01-...``); its errors read as the
    Admin API's (``describe_status``: 401 and 403 refuse the key)."""

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
