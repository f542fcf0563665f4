"""Whatever is pasted into the key field, in the service or to `finops connect`: no crash,
nothing stored, and no part of the secret on any channel a person or a log collector sees.

The secret is a canary: a fixed marker that no product text contains plus a random body, so a
match is a leak, never a coincidence (the old test's secret, the tail of the pasted text, could
be "aude Ent" and match "Claude Enterprise"). Every channel is read: stdout and stderr at the
file-descriptor level, every log record of every logger at every level (before any handler's
filter: a handler installed by someone else may not redact), warnings, the exception with its
chained causes and traceback, and the database file.
"""

from __future__ import annotations

import io
import logging
import string
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from app import cli
from app.anthropic.errors import AnthropicError
from app.anthropic.keys import KeyFormatError
from app.db import read_session
from app.keystore import KeyStore
from app.models import Organization, Provider
from app.runtime import key_probe
from app.services.access import OPERATOR
from app.services.connections import connect
from app.settings import Settings
from app.simulator import Simulator

PREFIXES = ["", "sk-ant-", "sk-ant-admin01-", "sk-ant-api03-", "sk-ant-api01-", "sk-ant-oat01-"]
# No product text contains this marker; with a body of at least 16 random key characters, any
# 12 consecutive characters of the canary appearing in an output are a leak of the secret.
MARKER = "QjZxW"
WINDOW = 12
canaries = st.text(
    alphabet=string.ascii_letters + string.digits + "_-", min_size=16, max_size=48
).map(lambda body: MARKER + body)
# Junk around the canary: whitespace, line breaks, control and non-ASCII characters, or nothing
# (then the pasted text is a well-formed key that the API rejects).
junk = st.one_of(st.just(""), st.text(max_size=12))
RIGHT_PREFIX = {Provider.CONSOLE: "sk-ant-admin01-", Provider.ENTERPRISE: "sk-ant-api01-"}


@st.composite
def pasted_keys(draw: st.DrawFn, provider: str) -> tuple[str, str]:
    """Pasted text with a canary inside, and the canary. Half the time the prefix is the one
    the provider wants, so a good share of examples passes the format check and is sent to the
    API (and refused there): the paths past the format check are fuzzed too."""
    prefix = draw(st.one_of(st.just(RIGHT_PREFIX[provider]), st.sampled_from(PREFIXES)))
    canary = draw(canaries)
    return prefix + draw(junk) + canary + draw(junk), canary


FUZZ = hyp_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Channels:
    """Everything the code under test said, on every channel, as text."""

    records: list[logging.LogRecord] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def add_exception(self, exc: BaseException) -> None:
        # format_exception walks __cause__ and __context__; args and notes are added because
        # a handler or a UI may show repr(exc) rather than str(exc).
        self.texts.append("".join(traceback.format_exception(exc)))
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self.texts.append(repr(current.args))
            self.texts.extend(getattr(current, "__notes__", []))
            current = current.__cause__ or current.__context__

    def all_text(self) -> str:
        parts = list(self.texts)
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in self.records:
            parts.append(repr(vars(record)))
            try:
                parts.append(formatter.format(record))
            except Exception as exc:  # a record whose args do not fit its format
                parts.append(f"unformattable record {record.msg!r} {record.args!r}: {exc}")
        return "\n".join(parts)


def assert_no_part_of(secret: str, text: str) -> None:
    for i in range(len(secret) - WINDOW + 1):
        window = secret[i : i + WINDOW]
        assert window not in text, f"{window!r} of the secret leaked: …{_around(text, window)}…"


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 200) : at + len(needle) + 200]


@contextmanager
def every_channel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Channels]:
    """Record every log record any logger makes, at any level and whatever its handlers, and
    every warning; restore the root logger afterwards (`finops` reconfigures it)."""
    seen = Channels()
    original_handle = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        seen.records.append(record)
        original_handle(self, record)

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    levels = {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    with monkeypatch.context() as patch, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        patch.setattr(logging.Logger, "handle", handle)
        # Every level of every logger, even those set to WARNING: a DEBUG line with the key is
        # one configuration change away from a log file.
        patch.setattr(logging.Logger, "isEnabledFor", lambda self, level: True)
        try:
            yield seen
        finally:
            root.handlers[:], root.level = saved
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
            seen.texts.extend(str(w.message) for w in caught)


def stored_bytes(settings: Settings) -> bytes:
    """The SQLite database with its journal and WAL, as bytes."""
    db = Path(settings.resolved_database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if p.is_file())


def organizations(engine: Engine) -> int:
    with read_session(engine) as session:
        return session.execute(select(func.count()).select_from(Organization)).scalar_one()


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the fuzz runs once, on SQLite; storage is covered on both elsewhere")


@given(provider=st.sampled_from([Provider.CONSOLE, Provider.ENTERPRISE]), data=st.data())
@FUZZ
def test_any_pasted_text_is_refused_cleanly_by_the_service(
    sqlite_only: None,
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    data: st.DataObject,
) -> None:
    pasted, canary = data.draw(pasted_keys(provider))
    store = KeyStore.from_settings(settings)
    capfd.readouterr()
    with every_channel(monkeypatch) as seen:
        try:
            connect(
                pasted,
                engine=engine,
                settings=settings,
                keystore=store,
                actor=OPERATOR,
                probe=key_probe(settings, transport=sim.transport()),
                provider=provider,
            )
        except (KeyFormatError, AnthropicError) as exc:
            event(type(exc).__name__)
            seen.add_exception(exc)
        else:
            pytest.fail("a key the API does not know was accepted")
    out, err = capfd.readouterr()
    assert organizations(engine) == 0
    assert_no_part_of(canary, "\n".join([out, err, seen.all_text()]))
    assert canary.encode() not in stored_bytes(settings)


@given(
    data=st.data(),
    how=st.sampled_from(
        [
            ("console", "FINOPS_ADMIN_KEY"),
            ("console", "stdin"),
            ("enterprise", "FINOPS_ANALYTICS_KEY"),
            ("enterprise", "FINOPS_ADMIN_KEY"),
            ("enterprise", "stdin"),
        ]
    ),
)
@FUZZ
def test_any_pasted_text_is_refused_cleanly_by_finops_connect(
    sqlite_only: None,
    http_sim: Simulator,
    engine: Engine,
    settings: Settings,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data: st.DataObject,
    how: tuple[str, str],
) -> None:
    """`finops connect` over real HTTP to the simulator, the key in the environment or on
    standard input, exactly as main() runs it (its own logging configuration included)."""
    provider, source = how
    enterprise = provider == "enterprise"
    pasted, canary = data.draw(pasted_keys(Provider.ENTERPRISE if enterprise else Provider.CONSOLE))
    if source != "stdin":
        assume("\x00" not in pasted)  # no environment variable can hold a NUL
    code, out, err, seen = run_connect(monkeypatch, capfd, provider, source, pasted)
    event(err.splitlines()[-1][:60] if err else "no stderr")
    assert code == 1, (code, err)
    # stderr also holds every log line (all levels are on): the refusal is one line of them.
    assert any(line.startswith("error: ") for line in err.splitlines()), err
    assert "Traceback" not in err, err
    assert organizations(engine) == 0
    assert_no_part_of(canary, "\n".join([out, err, seen.all_text()]))
    assert canary.encode() not in stored_bytes(settings)


def run_connect(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    provider: str,
    source: str,
    pasted: str,
    *extra: str,
) -> tuple[int | None, str, str, Channels]:
    capfd.readouterr()
    code: int | None = None
    with monkeypatch.context() as patch, every_channel(monkeypatch) as seen:
        patch.delenv("FINOPS_ADMIN_KEY", raising=False)
        patch.delenv("FINOPS_ANALYTICS_KEY", raising=False)
        if source == "stdin":
            patch.setattr("sys.stdin", io.StringIO(pasted))
        else:
            patch.setattr("sys.stdin", io.StringIO(""))
            patch.setenv(source, pasted)
        try:
            code = cli.main(["connect", "--provider", provider, *extra])
        except BaseException as exc:  # a crash: its text is a channel too, then it fails below
            seen.add_exception(exc)
    out, err = capfd.readouterr()
    return code, out, err, seen


@pytest.mark.parametrize("source", ["FINOPS_ADMIN_KEY", "stdin"])
@pytest.mark.parametrize("extra", [(), ("--json",)])
def test_a_key_that_connects_is_shown_only_as_its_hint(
    sqlite_only: None,
    http_sim: Simulator,
    engine: Engine,
    settings: Settings,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    extra: tuple[str, ...],
) -> None:
    org = next(iter(http_sim.orgs.values()))
    code, out, err, seen = run_connect(
        monkeypatch, capfd, "console", source, org.admin_key + "\n", *extra
    )
    assert code == 0, err
    assert org.admin_key[-4:] in out  # the hint, so the check below reads the real output
    secret = org.admin_key.removeprefix("sk-ant-admin01-")
    assert_no_part_of(secret[:-4], "\n".join([out, err, seen.all_text()]))
    assert secret.encode() not in stored_bytes(settings)  # stored encrypted
    assert organizations(engine) == 1
