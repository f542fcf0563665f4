"""Masking of anything shaped like an Anthropic key, for logs and error messages.

Two layers keep keys out of logs. ``install_redaction`` scrubs every log record of the process
when it is made, whichever handler writes it later: the app's process has Streamlit's handlers
(no filter of ours) and a root logger without handlers (its records go to logging's last-resort
handler). ``RedactingFilter`` scrubs on a handler, for records made before that or elsewhere.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

_KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9]+-[A-Za-z0-9_\-]{4,}")


def redact(text: str) -> str:
    """Replace every Anthropic-looking key in ``text`` with its prefix and an ellipsis."""
    return _KEY_PATTERN.sub(lambda m: _mask(m.group(0)), text)


def _mask(key: str) -> str:
    prefix = "-".join(key.split("-", 3)[:3])
    return f"{prefix}-…[redacted]"


def scrub(record: logging.LogRecord) -> None:
    """Mask keys in a record's message, its exception (causes and context included: a
    traceback prints them all) and its stack, in place."""
    try:
        message = record.getMessage()
    except Exception:
        # Arguments that do not fit the message: logging's own error report would print them
        # unmasked, and a filter that raises breaks the caller's log call.
        message = f"{record.msg} [arguments that do not fit the message: {record.args!r}]"
        record.args = None
    cleaned = redact(message)
    if cleaned != message or record.args is None:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if _KEY_PATTERN.search(text):
            # Formatters print exc_text when it is set: the traceback stays, masked.
            record.exc_info, record.exc_text = None, redact(text)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A logging filter that masks keys in every record a handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub(record)
        return True


def install_redaction() -> None:
    """Scrub every log record made in this process from now on (calling it again does
    nothing). The CLI and the worker get it from ``configure_logging``; the app calls it
    before anything logs."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "finops_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub(record)
        return record

    factory.finops_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(level: str = "INFO") -> None:
    """Root logging for the worker and CLI: one line per record, keys masked."""
    install_redaction()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; URLs carry no key, but keep the worker's log readable.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # APScheduler logs every run of the few-second dispatch job at INFO.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
