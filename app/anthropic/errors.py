"""Typed errors of the Admin API client. Messages are for users and never carry a key."""

from __future__ import annotations

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
