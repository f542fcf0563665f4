"""Settings from the environment: bad values are named, never echoed, and never a traceback."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.settings import SettingsError, get_settings
from tests.utils.processes import finops

NUMERIC = [
    "FINOPS_BACKFILL_MONTHS",
    "FINOPS_SYNC_INTERVAL_MINUTES",
    "FINOPS_LOOKBACK_DAYS",
    "FINOPS_DATABASE_BUSY_TIMEOUT_SECONDS",
    "FINOPS_HTTP_DEADLINE_SECONDS",
    "FINOPS_HTTP_MAX_RESPONSE_MIB",
]

# What an operator types: anything (the environment cannot hold NUL), or a number, maybe padded.
_ANY_TEXT = st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=12)
_NUMBER = st.one_of(
    st.integers(-10, 5000).map(str),
    st.decimals(min_value=-1, max_value=5000, places=2, allow_nan=False).map(str),
)
_PADDED_NUMBER = st.tuples(st.sampled_from(["", " ", "  "]), _NUMBER).map(lambda p: p[0] + p[1])


@given(name=st.sampled_from(NUMERIC), value=st.one_of(_ANY_TEXT, _PADDED_NUMBER))
def test_any_value_gives_its_number_or_a_named_error(name: str, value: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(name, value)
        try:
            settings = get_settings()
        except SettingsError as exc:
            assert name in str(exc)
            if len(value.strip()) > 3:
                assert value not in str(exc)
            return
    # Loaded: the setting holds exactly the number the variable said, not a default or a guess.
    loaded = getattr(settings, name.removeprefix("FINOPS_").lower())
    assert Decimal(str(loaded)) == Decimal(value.strip())


def test_cli_and_worker_explain_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_LOOKBACK_DAYS", "-4")
    for command in (("orgs",), ("worker",)):
        result = finops(*command, timeout=60)
        assert result.returncode == 2
        assert "FINOPS_LOOKBACK_DAYS" in result.stderr and "Traceback" not in result.stderr


def test_unknown_cli_arguments_are_refused_with_usage() -> None:
    result = finops("export", "--dataset", "bills")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    result = finops("export", "--dataset", "cost", "--start", "yesterday")
    assert result.returncode == 2 and "is not a date" in result.stderr


def test_the_database_busy_timeout_defaults_to_30_seconds_and_refuses_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FINOPS_DATABASE_BUSY_TIMEOUT_SECONDS", raising=False)
    assert get_settings().database_busy_timeout_seconds == 30.0
    monkeypatch.setenv("FINOPS_DATABASE_BUSY_TIMEOUT_SECONDS", "2.5")
    assert get_settings().database_busy_timeout_seconds == 2.5
    for bad in ("0", "-1", "forever"):
        monkeypatch.setenv("FINOPS_DATABASE_BUSY_TIMEOUT_SECONDS", bad)
        with pytest.raises(SettingsError, match="FINOPS_DATABASE_BUSY_TIMEOUT_SECONDS"):
            get_settings()


def test_the_response_cap_and_deadline_settings_reach_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    from app.anthropic.errors import ResponseTooLarge
    from app.runtime import new_client

    monkeypatch.setenv("FINOPS_HTTP_MAX_RESPONSE_MIB", "1")
    monkeypatch.setenv("FINOPS_HTTP_DEADLINE_SECONDS", "7")
    body = b'{"id": "org", "name": "' + b"x" * (2 * 2**20) + b'"}'
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    client = new_client(get_settings(), "sk-ant-admin01-" + "k" * 40, transport=transport)
    with client, pytest.raises(ResponseTooLarge, match="MiB"):
        client.get_organization()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FINOPS_HTTP_DEADLINE_SECONDS", "600")
        with pytest.raises(SettingsError, match="FINOPS_HTTP_DEADLINE_SECONDS"):
            get_settings()
