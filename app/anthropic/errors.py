"""Typed errors of the Admin API client. Messages are for users and never carry a key."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from app.redact import redact


class AnthropicError(Exception):
    """Base class: ``status`` is the HTTP status when there was one."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.retry_after = retry_after
        self.status = status
        self.error_type = error_type
        self.request_id = request_id

    @property
    def message(self) -> str:
        return str(self)


class KeyRejected(AnthropicError):
    """401/403: the key is invalid, expired, revoked, or lacks permission."""


class InvalidRequest(AnthropicError):
    """400 and other non-retryable 4xx answers."""


class CursorExpired(InvalidRequest):
    """410: a page cursor expired after a data refresh; the query restarts from page one."""


class RateLimited(AnthropicError):
    """429 that persisted after the allowed retries."""

    retryable = True


class ServerError(AnthropicError):
    """5xx/529 that persisted after the allowed retries."""

    retryable = True


class NetworkError(AnthropicError):
    """Connection failures and timeouts that persisted after the allowed retries."""

    retryable = True


class MalformedResponse(AnthropicError):
    """The API answered 200 with a body that is not the documented shape."""

    retryable = True


class RefusedPage(MalformedResponse):
    """A page holding a value no real bill or count has (an amount of 1e30, a token count
    beyond 64 bits or below zero, a day sent twice). The whole page is refused, so nothing of
    it is stored. Not retried within the run: the same page comes back the same, so the
    organization is marked failing and the usual backoff spaces the next attempts."""

    retryable = False


class ResponseTooLarge(AnthropicError):
    """A response bigger than the client's cap (``max_response_bytes``). Not retried as is:
    the same request gets the same answer; the sync asks again for fewer days per page."""

    def __init__(
        self, message: str, *, path: str, size: int | None, request_id: str | None = None
    ) -> None:
        super().__init__(message, status=200, request_id=request_id)
        self.path = path
        self.size = size  # bytes declared or read when refused


class PageOverBudget(ResponseTooLarge):
    """A report page of several days larger than the page budget (``PAGE_BUDGET_BYTES``),
    refused before it was parsed; ``size`` is its declared size when the answer said it.
    The sync asks again for as many days as fit in half the budget."""

    def __init__(
        self,
        message: str,
        *,
        path: str,
        size: int | None,
        budget: int,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, path=path, size=size, request_id=request_id)
        self.budget = budget


class PaginationError(AnthropicError):
    """The API's paging broke its contract (repeated or missing cursor)."""


ANALYTICS_KEY_URL = "https://claude.ai/admin-settings/api-access"


def describe_analytics_status(status: int, error_type: str | None, api_message: str | None) -> str:
    """The same for the Claude Enterprise Analytics API, whose key and odd 404 differ."""
    detail = f" (Anthropic said: {api_message})" if api_message else ""
    where = (
        f"The Primary Owner creates one in claude.ai > Organization settings > API "
        f"({ANALYTICS_KEY_URL}) with the read:analytics scope, after switching API access on."
    )
    if status == 404:
        return (
            "The Analytics API did not accept this key: it is invalid, or it lacks the "
            "read:analytics scope. Check the key's scope. " + where + detail
        )
    if status == 401:
        return (
            "Anthropic rejected the Analytics API key: it is invalid, expired or was revoked. "
            + where
            + detail
        )
    if status == 403:
        return (
            "The key may not read this organization's analytics: it lacks the read:analytics "
            "scope, API access is switched off, or it is not a Claude Enterprise key. "
            + where
            + detail
        )
    if status == 410:
        return "The Analytics API's page cursor expired after a data refresh." + detail
    return describe_status(status, error_type, api_message)


def describe_status(status: int, error_type: str | None, api_message: str | None) -> str:
    """A plain-language reason for an HTTP error, with the API's own words appended."""
    detail = f" (Anthropic said: {api_message})" if api_message else ""
    if status == 401:
        return (
            "Anthropic rejected the key: it is invalid, expired or was revoked. Create a new Admin "
            "key in the Claude Console (Settings > Admin keys) and replace it." + detail
        )
    if status == 403:
        return (
            "The key is not allowed to read this organization's usage and cost. It must be an "
            "Admin API key of a Claude Console organization (sk-ant-admin01-…)." + detail
        )
    if status == 429:
        return "Anthropic is rate limiting these requests; they will be retried later." + detail
    if status >= 500:
        return f"Anthropic's API had an error (HTTP {status}); it will be retried later." + detail
    return f"Anthropic refused the request (HTTP {status}, {error_type or 'error'})." + detail


def error_for(
    status: int,
    raw: bytes,
    request_id: str | None,
    *,
    retry_after: float | None,
    describe: Callable[[int, str | None, str | None], str],
    key_rejected: frozenset[int],
) -> AnthropicError:
    """The typed error of an HTTP error answer (``raw``: its body, the error envelope if any)."""
    error_type: str | None = None
    api_message: str | None = None
    try:
        body = json.loads(raw)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            error_type = str(error.get("type") or "") or None
            api_message = str(error.get("message") or "")[:300] or None
        request_id = request_id or (body.get("request_id") if isinstance(body, dict) else None)
    except (ValueError, AttributeError, RecursionError):
        pass
    message = describe(status, error_type, api_message)
    kwargs: dict[str, Any] = {"status": status, "error_type": error_type, "request_id": request_id}
    if status in key_rejected:
        return KeyRejected(message, **kwargs)
    if status == 410:
        return CursorExpired(message, **kwargs)
    if status == 429:
        # A 429 without retry-after is Anthropic's monthly spend cap on the Messages API; these
        # are free read-only admin calls, so a bounded backoff is still the right answer.
        return RateLimited(message, retry_after=retry_after, **kwargs)
    if status >= 500:
        return ServerError(message, retry_after=retry_after, **kwargs)
    return InvalidRequest(message, **kwargs)


USAGE_COST_ANALYTICS_BETA = "analytics-usage-cost-2026-08-24"


def describe_report_not_found(path: str, api_message: str | None) -> str:
    """A 404 on an Enterprise Analytics cost or usage report. Unlike the engagement endpoints,
    these answer a bad or scope-less key with 401 or 403 (reference §7.3), so a 404 is not the
    key: the report is not at this address for this organization."""
    detail = f" (Anthropic said: {api_message})" if api_message else ""
    return (
        f"Anthropic answered 404 (not found) for {path}. On the cost and usage reports this is "
        "not a problem with the key's scope (a key without read:analytics gets 401 or 403 "
        "there): the report is not available at this address. Check FINOPS_ANTHROPIC_BASE_URL; "
        "Anthropic marks these reports [Legacy], so it may also have moved or retired them. "
        "It will be tried again at the next sync." + detail
    )


def describe_usage_cost_analytics(
    status: int, error_type: str | None, api_message: str | None, what: str = "Per-key cost"
) -> str:
    """Errors of the Usage and Cost Analytics API (``/analytics/cost``, ``/analytics/usage``,
    beta) for a Console organization: it feeds per-key cost and usage only (``what``), so a
    refusal says what is missing without blaming the key that reads everything else."""
    detail = f" (Anthropic said: {api_message})" if api_message else ""
    if status == 404:
        return (
            f"{what} is unavailable: the Usage and Cost Analytics API (beta) answered 404 "
            "(not found). The key was not refused: the endpoint is not offered to this "
            f"organization yet, the beta ({USAGE_COST_ANALYTICS_BETA}) is not open to it, or "
            "FINOPS_ANTHROPIC_BASE_URL does not point at Anthropic's API. The organization's "
            "other data is unaffected; it is tried again at the next sync." + detail
        )
    if status in (401, 403):
        return (
            f"{what} is unavailable: the key may not use the Usage and Cost Analytics "
            f"API (beta, HTTP {status}). It needs an Admin API key (or one with the "
            "read:analytics scope) of an organization the beta is open to. The organization's "
            "other data is unaffected; it is tried again at the next sync." + detail
        )
    if status == 400 and api_message and "beta" in api_message.lower():
        return (
            f"{what} is unavailable: Anthropic refused the beta {USAGE_COST_ANALYTICS_BETA} "
            "of the Usage and Cost Analytics API. The organization's other data is unaffected."
            + detail
        )
    return describe_status(status, error_type, api_message)
