"""Masking of anything shaped like an Anthropic key, for logs and error messages."""

from __future__ import annotations

import logging
import re

_KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9]+-[A-Za-z0-9_\-]{4,}")


def redact(text: str) -> str:
    """Replace every Anthropic-looking key in ``text`` with its prefix and an ellipsis."""
    return _KEY_PATTERN.sub(lambda m: _mask(m.group(0)), text)


def _mask(key: str) -> str:
    prefix = "-".join(key.split("-", 3)[:3])
    return f"{prefix}-…[redacted]"


class RedactingFilter(logging.Filter):
    """A logging filter that masks keys in the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if _KEY_PATTERN.search(str(exc)):
                record.exc_info = None
                record.msg = f"{record.msg} ({exc.__class__.__name__}, details redacted)"
        return True


def configure_logging(level: str = "INFO") -> None:
    """Root logging for the worker and CLI: one line per record, keys masked."""
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
