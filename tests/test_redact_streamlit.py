"""Keys never reach a log in the app's process: Streamlit's own handlers and the root logger
Streamlit leaves alone (records there go to logging's last-resort handler). Needs app/main.py
to call ``app.redact.install_redaction()`` before anything logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import Settings
from tests.test_redact import LOGGERS, MAIN, assert_no_part_of_the_key, assert_written

STREAMLIT_PROBE = """
import logging, sys
from streamlit.testing.v1 import AppTest
import streamlit.logger
from tests.test_redact import KEY, log_keys

# The app's real entry point, in Streamlit's real script runner: whatever app/main.py sets up
# for logging is in place after this.
app = AppTest.from_file(sys.argv[1], default_timeout=60).run()
assert not app.exception, app.exception
print("APP RAN", file=sys.stderr, flush=True)
log_keys()
# A logger made by Streamlit's get_logger: its own handler, no propagation to the root.
log_keys([streamlit.logger.get_logger("app.ui.probe").name])
# An uncaught exception in a page: Streamlit logs it with its traceback.
script = (
    "try:\\n"
    f"    raise ValueError('bad header {KEY}')\\n"
    "except ValueError as cause:\\n"
    "    raise RuntimeError('[page:uncaught] sync failed') from cause\\n"
)
AppTest.from_string(script, default_timeout=60).run()
"""


@pytest.mark.slow
def test_streamlit_handlers_write_no_key(settings: Settings, tmp_path: Path) -> None:
    """In the app's process, keys logged through the product's loggers (which propagate to the
    root, which Streamlit leaves alone), through Streamlit's own loggers, and in an uncaught
    page exception. A child process, so Streamlit's handlers are the ones it makes itself."""
    probe = subprocess.run(
        [sys.executable, "-c", STREAMLIT_PROBE, MAIN],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(MAIN).parents[1],
        env={**os.environ, "PYTHONPATH": str(Path(MAIN).parents[1])},
    )
    output = probe.stdout + probe.stderr
    assert probe.returncode == 0, output[-3000:]
    assert "APP RAN" in output, output[-3000:]
    logged = output.split("APP RAN", 1)[1]
    assert_written(logged, [*LOGGERS, "app.ui.probe"])
    assert "Uncaught app execution" in logged and "[page:uncaught]" in logged
    assert_no_part_of_the_key(output)
