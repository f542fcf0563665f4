"""The dashboard process imports statsmodels' ETS in the background as its first page opens,
so the first Overview (its projected month end) does not wait about a second for it."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys, time
from app.finops import forecast
assert forecast._ETS_MODULE not in sys.modules, "imported before any warm-up"
forecast.warm_up()
forecast.warm_up()  # a second page's call starts nothing more
deadline = time.monotonic() + 30
while forecast._ETS_MODULE not in sys.modules and time.monotonic() < deadline:
    time.sleep(0.05)
import threading
print(forecast._ETS_MODULE in sys.modules, sum(t.name == "ets-import" for t in threading.enumerate()) <= 1)
"""


def test_warm_up_imports_the_model_in_the_background_once() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["True", "True"]
