"""The Admin API and the Analytics API have a client each (issue 13): the class says which API,
and each reads that API's errors its own way; the shared transport lives apart from both."""

from __future__ import annotations

import inspect
from datetime import date
from pathlib import Path

import httpx
import pytest

import app.anthropic
from app.anthropic.admin import AdminClient
from app.anthropic.analytics import AnalyticsClient
from app.anthropic.errors import InvalidRequest, KeyRejected
from app.runtime import new_client
from app.settings import Settings

ADMIN_KEY = "sk-ant-admin01-" + "a" * 40
ANALYTICS_KEY = "sk-ant-api01-" + "b" * 40


def _answering(status: int) -> httpx.MockTransport:
    body = {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}}
    return httpx.MockTransport(lambda _request: httpx.Response(status, json=body))


def test_a_404_refuses_an_analytics_key_but_is_a_plain_error_for_the_admin_api() -> None:
    analytics = AnalyticsClient(ANALYTICS_KEY, transport=_answering(404), max_retries=0)
    with analytics, pytest.raises(KeyRejected) as refused:
        analytics.test_analytics(date(2026, 3, 10))
    assert "read:analytics" in str(refused.value)
    admin = AdminClient(ADMIN_KEY, transport=_answering(404), max_retries=0)
    with admin, pytest.raises(InvalidRequest) as plain:
        admin.get_organization()
    assert not isinstance(plain.value, KeyRejected)
    assert "read:analytics" not in str(plain.value)


def test_each_client_has_only_its_own_apis_endpoints_and_no_api_switch() -> None:
    assert not hasattr(AdminClient, "iter_analytics_cost_pages")
    assert not hasattr(AdminClient, "test_analytics")
    assert not hasattr(AnalyticsClient, "iter_usage_pages")
    assert not hasattr(AnalyticsClient, "get_organization")
    for api in (AdminClient, AnalyticsClient):
        assert "analytics" not in inspect.signature(api).parameters


def test_new_client_gives_the_enterprise_organization_an_analytics_client(
    settings: Settings,
) -> None:
    transport = _answering(404)
    with new_client(settings, ADMIN_KEY, transport=transport) as admin:
        assert type(admin) is AdminClient
    with new_client(settings, ANALYTICS_KEY, transport=transport, enterprise=True) as analytics:
        assert type(analytics) is AnalyticsClient
        # Paced under the Analytics API's per-organization limit.
        assert analytics._min_interval == 60.0 / settings.enterprise_requests_per_minute


def test_no_client_module_is_over_600_lines() -> None:
    folder = Path(app.anthropic.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in folder.glob("*.py")}
    assert not (folder / "client.py").exists()
    assert {name: n for name, n in sizes.items() if n > 600} == {}
