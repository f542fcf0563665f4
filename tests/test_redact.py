"""One logging filter masks anything shaped like an Anthropic key, wherever it appears."""

from __future__ import annotations

import io
import logging

from app.redact import RedactingFilter, redact

KEY = "sk-ant-admin01-" + "Zq9_x-" * 15 + "AA"


def test_keys_in_text_are_masked_to_their_prefix() -> None:
    text = f"calling with {KEY} and sk-ant-api03-abcdefghijklmnop done"
    cleaned = redact(text)
    assert KEY[15:] not in cleaned and "abcdefghijklmnop" not in cleaned
    assert "sk-ant-admin01-…[redacted]" in cleaned and cleaned.endswith("done")


def test_log_records_and_exceptions_never_carry_the_key() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("key is %s", KEY)
        try:
            raise RuntimeError(f"upstream echoed {KEY}")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert KEY[15:] not in output and KEY[20:40] not in output
    assert "sk-ant-admin01-…[redacted]" in output
    assert "details redacted" in output
