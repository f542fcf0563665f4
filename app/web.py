"""The dashboard's server process: ``python -m app.web run app/main.py …`` is ``streamlit run``
with the process's slow starts begun before the first visitor arrives.

Streamlit runs no app code until a browser opens a session, so without this the first visit
after ``make run`` waited for them: the columnar copy's first load (seconds to minutes at
millions of rows; a filtered view meets the database until it is loaded) and statsmodels'
import (about 1.5 s of scipy, for the Overview's projected month end). Both start here in
background threads, by the pages' own ``app.runtime.dashboard_engine``, and a
failure only leaves them to that first page, which then says what is wrong.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


def start_early() -> None:
    """The pages' engine, its columnar copy and the forecast engine's import, begun now."""
    from app.runtime import dashboard_engine
    from app.settings import get_settings

    try:
        dashboard_engine(get_settings())
    except Exception as exc:  # a bad setting or an unreachable database: the page says it
        log.warning("dashboard warm-up skipped (%s)", type(exc).__name__)


def main() -> int:
    from streamlit.web.cli import main as streamlit_main

    start_early()
    sys.argv = ["streamlit", *sys.argv[1:]]
    streamlit_main()  # a click command: it exits the process itself
    return 0


if __name__ == "__main__":
    sys.exit(main())
