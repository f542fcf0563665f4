"""Recognise what kind of Anthropic key was pasted, before any network call."""

from __future__ import annotations

from enum import StrEnum

ADMIN_KEY_URL = "https://platform.claude.com/settings/admin-keys"
ANALYTICS_KEY_URL = "https://claude.ai/admin-settings/api-access"


class KeyKind(StrEnum):
    ADMIN = "admin"
    REGULAR = "regular"
    ENTERPRISE = "enterprise"
    OAUTH = "oauth"
    UNKNOWN = "unknown"


class KeyFormatError(ValueError):
    """The pasted text is not a Console Admin key; the message says what it is instead."""

    def __init__(self, kind: KeyKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_PREFIXES = {
    "sk-ant-admin01-": KeyKind.ADMIN,
    "sk-ant-api03-": KeyKind.REGULAR,
    "sk-ant-api01-": KeyKind.ENTERPRISE,
    "sk-ant-oat01-": KeyKind.OAUTH,
}

_WHERE = (
    f"An organization admin can create an Admin key in the Claude Console: Settings > Admin keys "
    f"({ADMIN_KEY_URL}). The secret is shown only once, when it is created."
)

MESSAGES = {
    KeyKind.REGULAR: (
        "This is a regular Claude API key (sk-ant-api03-…), used to send messages. Usage and cost "
        "reports need an Admin API key, which starts with sk-ant-admin01-. " + _WHERE
    ),
    KeyKind.ENTERPRISE: (
        "This is a Claude Enterprise (claude.ai) key (sk-ant-api01-…). It belongs to the Claude "
        "Enterprise Analytics connection, not to a Claude Console organization. For Console usage "
        "and cost, use an Admin API key (sk-ant-admin01-…). " + _WHERE
    ),
    KeyKind.OAUTH: (
        "This is an OAuth access token (sk-ant-oat01-…), not an Admin API key. Paste an Admin API "
        "key that starts with sk-ant-admin01-. " + _WHERE
    ),
    KeyKind.UNKNOWN: (
        "This does not look like an Anthropic Admin API key, which starts with sk-ant-admin01-. "
        + _WHERE
    ),
}


def classify_key(raw: str) -> KeyKind:
    """The kind of key, judged by its prefix only (the rest of the shape is not documented)."""
    key = raw.strip()
    for prefix, kind in _PREFIXES.items():
        if key.startswith(prefix):
            return kind
    return KeyKind.UNKNOWN


def check_admin_key(raw: str) -> str:
    """The trimmed key if it may read a Console organization's usage and cost; else
    ``KeyFormatError`` saying why.

    An Admin key (``sk-ant-admin01-``) passes. So does a whole ``sk-ant-`` key of a prefix not
    known here: the usage and cost endpoints also accept personal and service-account keys not
    scoped to a workspace (reference §14.7), whose prefixes are not documented, so the
    organization test call decides (``describe_key_kind`` says what it seems to be). Regular
    workspace keys, Enterprise keys and OAuth tokens are still refused with their message."""
    key = raw.strip()
    if classify_key(key) is KeyKind.UNKNOWN and _looks_like_anthropic_key(key):
        return key
    return _check_key(raw, KeyKind.ADMIN, "an Admin API key", MESSAGES, _WHERE)


def _looks_like_anthropic_key(key: str) -> bool:
    """An ``sk-ant-<kind>-<secret>`` key, whole (no spaces, control or non-ASCII characters)."""
    if not key.startswith("sk-ant-") or key.count("-") < 3:
        return False
    secret = key[len("sk-ant-") :].split("-", 1)[1]
    # The whole key goes into a header: its kind as much as its secret must be plain ASCII.
    whole = key.isascii() and key.isprintable() and " " not in key
    return whole and len(secret) >= 8


def describe_key_kind(raw: str) -> str | None:
    """What a key that passed ``check_admin_key`` seems to be, for the person connecting it:
    None for an Admin key; for a key of an unknown prefix, that it is not an Admin key and,
    since the organization test call succeeded, probably a personal or service-account key
    not scoped to a workspace."""
    key = raw.strip()
    if classify_key(key) is not KeyKind.UNKNOWN:
        return None
    prefix = "-".join(key.split("-")[:3]) + "-"
    return (
        f"This key ({prefix}…) is not an Admin API key (sk-ant-admin01-…). Anthropic accepted "
        "it for this organization's usage and cost, so it seems to be a personal or "
        "service-account key that is not scoped to a workspace. If it stops working (or lacks "
        "a report), use an Admin API key. " + _WHERE
    )


def _check_key(
    raw: str, wanted: KeyKind, name: str, messages: dict[KeyKind, str], where: str
) -> str:
    """The trimmed key if its prefix says ``wanted`` and the rest looks whole; else
    ``KeyFormatError`` with ``messages`` for the kind it is instead."""
    key = raw.strip()
    if not key:
        raise KeyFormatError(KeyKind.UNKNOWN, f"No key was given. Paste {name}. " + where)
    kind = classify_key(key)
    if kind is not wanted:
        raise KeyFormatError(kind, messages[kind])
    prefix = next(p for p, k in _PREFIXES.items() if k is wanted)
    body = key[len(prefix) :]
    # Whitespace or non-ASCII inside usually means a copy/paste accident (a wrapped line).
    # A control character (NUL, ESC) cannot go into an HTTP header; refused here, it would
    # surface as a misleading network error.
    if len(body) < 8 or not body.isascii() or not body.isprintable() or " " in body:
        raise KeyFormatError(
            KeyKind.UNKNOWN,
            f"This key starts like {name} but is incomplete or contains spaces, line breaks "
            "or control characters. Copy the whole secret again. " + where,
        )
    return key


_ANALYTICS_WHERE = (
    f"The Primary Owner of the Claude Enterprise organization creates one in claude.ai > "
    f"Organization settings > API ({ANALYTICS_KEY_URL}) with the read:analytics scope."
)

ANALYTICS_MESSAGES = {
    KeyKind.ADMIN: (
        "This is a Claude Console Admin key (sk-ant-admin01-…). It belongs to the Claude Console "
        "connection (provider Anthropic), not to Claude Enterprise. " + _ANALYTICS_WHERE
    ),
    KeyKind.REGULAR: (
        "This is a regular Claude API key (sk-ant-api03-…), used to send messages. The Claude "
        "Enterprise Analytics API needs an Analytics API key, which starts with sk-ant-api01-. "
        + _ANALYTICS_WHERE
    ),
    KeyKind.OAUTH: (
        "This is an OAuth access token (sk-ant-oat01-…), not an Analytics API key. "
        + _ANALYTICS_WHERE
    ),
    KeyKind.UNKNOWN: (
        "This does not look like a Claude Enterprise Analytics API key, which starts with "
        "sk-ant-api01-. " + _ANALYTICS_WHERE
    ),
}


def check_analytics_key(raw: str) -> str:
    """The trimmed key if it is a Claude Enterprise key; else ``KeyFormatError`` saying why."""
    return _check_key(
        raw, KeyKind.ENTERPRISE, "an Analytics API key", ANALYTICS_MESSAGES, _ANALYTICS_WHERE
    )
