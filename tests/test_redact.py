"""Keys never reach a log, whoever configured the logging: the CLI's and the worker's handler
(`configure_logging`, installed by their main functions) and Streamlit's own handlers in the
app's process. Each test logs keys through the real configuration, in messages, arguments,
exception messages and chained causes, and reads what the real handler wrote."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import cli
from app.keystore import MasterKeyError
from app.redact import redact
from app.settings import Settings

# A key whose body no product text contains (see tests/test_key_fuzz.py).
KEY = "sk-ant-admin01-QjZxW" + "Zq9_x-" * 14 + "AA"
SECRET = KEY.removeprefix("sk-ant-admin01-")
MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
# Loggers the product logs through, the root, and one a library owns.
LOGGERS = [
    "",
    "app.services.connections",
    "app.anthropic.base",
    "app.anthropic.analytics",
    "ingest.sync",
    "httpx",
]


def assert_no_part_of_the_key(output: str) -> None:
    for i in range(len(SECRET) - 11):
        assert SECRET[i : i + 12] not in output, f"the key leaked: {output[-3000:]}"


def log_keys(names: list[str] = LOGGERS) -> None:
    """Log the key every way code might: each record is marked, so the test can tell that it
    was written (and not dropped)."""
    for name in names:
        logger = logging.getLogger(name)
        tag = name or "root"
        logger.error("[%s:args] connecting with %s", tag, KEY)
        logger.error(f"[{tag}:inline] connecting with {KEY}")
        try:
            raise RuntimeError(f"upstream echoed {KEY}")
        except RuntimeError:
            logger.exception("[%s:exception] request failed", tag)
        try:
            try:
                raise ValueError(f"bad header {KEY!r}")
            except ValueError as cause:
                raise RuntimeError("request failed") from cause
        except RuntimeError:
            logger.exception("[%s:cause] request failed", tag)
        try:
            try:
                raise ValueError(f"bad header {KEY}")
            except ValueError:
                raise RuntimeError("while handling it, another failure") from None
        except RuntimeError as exc:
            logger.error("[%s:suppressed] %s", tag, exc, exc_info=True)
        try:
            try:
                raise ValueError(f"bad header {KEY}")
            except ValueError:
                raise LookupError("no such organization")  # noqa: B904 (the implicit context)
        except LookupError:
            logger.exception("[%s:context] lookup failed", tag)
        # Arguments that do not fit the message: logging's own error report prints them.
        logger.error(f"[{tag}:unformattable] %s %s", KEY)


def assert_written(output: str, names: list[str] = LOGGERS) -> None:
    for name in names:
        tag = name or "root"
        for kind in (
            "args",
            "inline",
            "exception",
            "cause",
            "suppressed",
            "context",
            "unformattable",
        ):
            assert f"[{tag}:{kind}]" in output, (tag, kind, output[-3000:])
    # The traceback is kept, with the key masked out of it.
    assert "Traceback (most recent call last)" in output
    assert "sk-ant-admin01-…[redacted]" in output


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`configure_logging` replaces the root logger's handlers: put pytest's back."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    factory = logging.getLogRecordFactory()
    levels = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "apscheduler")}
    yield
    root.handlers[:], root.level = saved
    logging.setLogRecordFactory(factory)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_keys_in_text_are_masked_to_their_prefix() -> None:
    text = f"calling with {KEY} and sk-ant-api03-abcdefghijklmnop done"
    cleaned = redact(text)
    assert SECRET not in cleaned and "abcdefghijklmnop" not in cleaned
    assert "sk-ant-admin01-…[redacted]" in cleaned and cleaned.endswith("done")


def test_the_cli_handler_writes_no_key(
    settings: Settings, capfd: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    """What `finops` installs in main(), then keys logged in that process."""
    assert cli.main(["orgs"]) == 0
    capfd.readouterr()
    log_keys()
    err = capfd.readouterr().err
    assert_written(err)
    assert_no_part_of_the_key(err)


def test_the_worker_handler_writes_no_key(
    settings: Settings,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    restore_logging: None,
) -> None:
    """The worker's main() with its real logging set-up; the worker itself logs the keys
    (then stops on a configuration error, as a worker without a usable master key does)."""
    from ingest import worker

    def worker_that_logs_keys(_settings: Settings) -> None:
        log_keys()
        raise MasterKeyError(f"stopping (the master key was {KEY})")

    monkeypatch.setattr(worker, "Worker", worker_that_logs_keys)
    monkeypatch.setattr(worker.signal, "signal", lambda *_: None)  # keep pytest's handlers
    assert worker.main() == 1
    err = capfd.readouterr().err
    assert_written(err)
    assert "stopping (the master key was sk-ant-admin01-…[redacted])" in err
    assert_no_part_of_the_key(err)
