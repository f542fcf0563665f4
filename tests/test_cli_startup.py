"""Every `finops` command starts in about a second: the CLI's imports leave out the libraries
only the dashboard needs (Arrow, DuckDB, pandas, statsmodels, Plotly, Streamlit), each of
which adds 0.1-0.5 s to every command (and to every script that calls one in a loop)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pyarrow", "numpy", "duckdb", "pandas", "statsmodels", "plotly", "streamlit")


def test_the_cli_and_its_wiring_load_no_dashboard_library() -> None:
    probe = (
        "import sys, app.cli, app.runtime, app.commands; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
