"""Page render times for `make bench`: every dashboard page through Streamlit's AppTest, and
the Spend page in headless Chromium (Debian's /usr/bin/chromium; never `playwright install`)
until its first Plotly chart is visible.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench.figures import pinned_today

ROOT = Path(__file__).resolve().parents[1]
MAIN = str(ROOT / "app" / "main.py")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COOKIE = "finops_session"  # app.ui.auth.COOKIE
CHART = ".js-plotly-plot"
# (figure name, page file relative to app/main.py; None: the default page)
PAGES = [
    ("Overview", None),
    ("Spend", "../pages/spend.py"),
    ("Usage", "../pages/usage.py"),
    ("Claude Code", "../pages/claude_code.py"),
    ("Claude Enterprise", "../pages/enterprise.py"),
    ("Organizations", "../pages/organizations.py"),
]


@dataclass
class PageTimes:
    cold_ms: list[float] = field(default_factory=list)  # st.cache_data cleared, new session
    warm_ms: list[float] = field(default_factory=list)  # the same session run again
    error: str | None = None

    @property
    def cold_p50(self) -> float:
        return statistics.median(self.cold_ms) if self.cold_ms else float("nan")

    @property
    def warm_p50(self) -> float:
        return statistics.median(self.warm_ms) if self.warm_ms else float("nan")


def app_test_pages(token: str, repeat: int, timeout: float, today: date) -> dict[str, PageTimes]:
    """Each page: ``repeat`` cold runs (cache cleared, new session) and as many warm reruns,
    with the product's clock pinned to ``today`` (the bench data's last day)."""
    with pinned_today(today):
        return _app_test_pages(token, repeat, timeout)


def _app_test_pages(token: str, repeat: int, timeout: float) -> dict[str, PageTimes]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    def session(page: str | None) -> AppTest:
        # Outside a running app, clearing the cache and seeding session state warn on every
        # call ("missing ScriptRunContext", "bare mode"): not news, so not printed.
        logging.disable(logging.WARNING)
        try:
            st.cache_data.clear()
            at = AppTest.from_file(MAIN, default_timeout=timeout)
            at.session_state["auth_token"] = token  # what a sign-in leaves (app.ui.auth.TOKEN)
        finally:
            logging.disable(logging.NOTSET)
        return at.switch_page(page) if page else at

    session(None).run()  # imports and first-run costs, counted for no page
    results: dict[str, PageTimes] = {}
    for name, page in PAGES:
        times = results[name] = PageTimes()
        for _ in range(repeat):
            at = session(page)
            try:
                t0 = time.perf_counter()
                at.run()
                times.cold_ms.append((time.perf_counter() - t0) * 1000)
                if not at.exception:
                    t0 = time.perf_counter()
                    at.run()
                    times.warm_ms.append((time.perf_counter() - t0) * 1000)
            except RuntimeError as exc:  # AppTest's timeout
                times.error = f"{exc}"[:200]
                break
            if at.exception:
                times.error = str(at.exception[0].value)[:200]
                break
    return results


@dataclass
class BrowserTimes:
    first_ms: float  # the first visit after the server started: nothing cached
    warm_ms: list[float]
    skipped: str | None = None
    # A change of a Spend control -> ms from choosing the option to the chart redrawn with
    # new data, once per round (the first round's views are not cached yet).
    changes: dict[str, list[float]] = field(default_factory=dict)
    change_error: str | None = None


# The chart's data as drawn (Plotly keeps it on the chart's element): it changes when the chart
# has been redrawn with a rerun's new figure, not while the stale one is still shown.
_CHART_DATA = """(sel) => {
  const el = document.querySelector(sel);
  if (!el || !el.data) return null;
  return JSON.stringify(el.data.map((t) => [t.name, t.x, t.y]));
}"""
_CHART_CHANGED = """([sel, before]) => {
  const el = document.querySelector(sel);
  if (!el || !el.data) return false;
  return JSON.stringify(el.data.map((t) => [t.name, t.x, t.y])) !== before;
}"""
# (name of the change, filter widget's label, option chosen as the page names it): each round
# walks them in order, so every change leaves the chart different from what it showed.
SPEND_CHANGES = [
    ("group by -> Workspace", "Group by", "Workspace"),
    ("filter service tier + batch", "Service tiers", "Batch"),  # the tier as a word (issue 15)
    ("group by -> Service tier", "Group by", "Service tier"),
    ("filter service tier - batch", "Service tiers", None),  # cleared again
    ("group by -> Model", "Group by", "Model"),
]


def _time_changes(page: Any, rounds: int, timeout_ms: float, out: dict[str, list[float]]) -> None:
    """On a rendered Spend page, ``rounds`` walks through SPEND_CHANGES, each timed from the
    click that chooses the option to the first chart redrawn with different data, into
    ``out``."""
    for _ in range(rounds):
        for name, label, option in SPEND_CHANGES:
            before = page.evaluate(_CHART_DATA, CHART)
            test_id = "stSelectbox" if label == "Group by" else "stMultiSelect"
            # Wherever the page puts its filters: the filter bar above the charts, its
            # "Filters" popover (opened first: its widgets are not on the page until then).
            widget = page.get_by_test_id(test_id).filter(has_text=label).first
            if not widget.is_visible():
                popover = page.get_by_test_id("stPopoverButton").filter(has_text="Filters")
                popover.first.click()
                widget.wait_for(state="visible", timeout=timeout_ms)
            widget.locator("input").focus()
            if option is not None:  # typed: the list shows the one match, Enter chooses it
                page.keyboard.type(option)
                choice = page.get_by_role("option", name=option, exact=True)
                choice.wait_for(state="visible", timeout=timeout_ms)
            t0 = time.perf_counter()
            # Backspace in a multiselect removes its last choice
            page.keyboard.press("Enter" if option is not None else "Backspace")
            page.wait_for_function(_CHART_CHANGED, arg=[CHART, before], timeout=timeout_ms)
            out.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
            page.keyboard.press("Escape")  # a multiselect's list stays open after a choice


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Runs the dashboard's server as `finops serve` does (app.web: `streamlit run` with the copy's
# load and statsmodels' import begun at start), the product's clock pinned to the day given as
# the first argument.
_PINNED_STREAMLIT = (
    "import sys, datetime, app.clock\n"
    "day = datetime.date.fromisoformat(sys.argv.pop(1))\n"
    "app.clock.today = lambda: day\n"
    "from app.web import main\n"
    "sys.exit(main())\n"
)


def chromium_spend(
    token: str, repeat: int, timeout: float, log_path: Path, today: date
) -> BrowserTimes:
    """Time from navigation to the first visible Plotly chart of the Spend page, signed in
    (the session cookie a sign-in sets), in a Streamlit server started for this with the
    product's clock pinned to ``today``."""
    missing = _browser_missing()
    if missing:
        return BrowserTimes(0, [], missing)
    from playwright.sync_api import sync_playwright

    pinned = ["-c", _PINNED_STREAMLIT, today.isoformat(), "run", MAIN]
    server, base, failed = _start_server(pinned, log_path)
    try:
        if failed:
            return BrowserTimes(0, [], failed)
        with sync_playwright() as p:
            try:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            except Exception as exc:  # a broken or incompatible browser: say so, go on
                return BrowserTimes(0, [], f"Chromium did not start: {str(exc)[:200]}")
            try:
                # The sign-in page once, signed out: the server's own first-session start-up.
                warmup = browser.new_context()
                page = warmup.new_page()
                page.goto(base)
                page.get_by_role("button", name="Sign in").wait_for(timeout=timeout * 1000)
                warmup.close()

                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                context.add_cookies([{"name": COOKIE, "value": token, "url": base}])

                first = _visit(context, f"{base}/spend", timeout)
                warm = [_visit(context, f"{base}/spend", timeout) for _ in range(repeat)]
                changes: dict[str, list[float]] = {}
                change_error = None
                page = context.new_page()
                try:
                    page.set_default_timeout(timeout * 1000)
                    page.goto(f"{base}/spend")
                    page.locator(CHART).first.wait_for(state="visible")
                    _time_changes(page, repeat, timeout * 1000, changes)
                except Exception as exc:  # a control not found: say so, keep the visits
                    change_error = f"{exc.__class__.__name__}: {str(exc)[:200]}"
                    shot = log_path.with_name("spend-change-failure.png")
                    page.screenshot(path=str(shot), full_page=True)
                    change_error += f" (screenshot {shot})"
            finally:
                browser.close()
        return BrowserTimes(first, warm, changes=changes, change_error=change_error)
    finally:
        _stop(server)


# The floor under every page's figure: Streamlit and Plotly alone, the same browser and
# machine, a page with a title, one metric and one small chart. A page cannot render faster
# than this; what the product adds is the Spend figure less this one.
_FLOOR_PAGE = (
    "import plotly.graph_objects as go\n"
    "import streamlit as st\n"
    "st.title('Floor')\n"
    "st.metric('Total', '$1.00')\n"
    "st.plotly_chart(go.Figure(go.Bar(x=[1, 2, 3], y=[3, 1, 2])))\n"
)


def chromium_floor(repeat: int, timeout: float, work: Path) -> BrowserTimes:
    """Navigation to the first visible chart of ``_FLOOR_PAGE`` under plain `streamlit run`:
    the first visit after the server started, then ``repeat`` more."""
    missing = _browser_missing()
    if missing:
        return BrowserTimes(0, [], missing)
    from playwright.sync_api import sync_playwright

    script = work / "floor_page.py"
    script.write_text(_FLOOR_PAGE)
    server, base, failed = _start_server(
        ["-m", "streamlit", "run", str(script)], work / "floor.log"
    )
    try:
        if failed:
            return BrowserTimes(0, [], failed)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                times = [_visit(context, base, timeout) for _ in range(repeat + 1)]
            finally:
                browser.close()
        return BrowserTimes(times[0], times[1:])
    finally:
        _stop(server)


def _browser_missing() -> str | None:
    """Why Chromium cannot be driven here (None: it can)."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


def _visit(context: Any, url: str, timeout: float) -> float:
    """Milliseconds from navigating a new tab to ``url`` to its first chart being visible."""
    page = context.new_page()
    page.set_default_timeout(timeout * 1000)
    t0 = time.perf_counter()
    page.goto(url)
    page.locator(CHART).first.wait_for(state="visible", timeout=timeout * 1000)
    elapsed = (time.perf_counter() - t0) * 1000
    page.close()
    return elapsed


def _start_server(
    args: list[str], log_path: Path
) -> tuple[subprocess.Popen[bytes], str, str | None]:
    """A Streamlit server (``python ARGS`` plus the address options) on a free port, waited
    for until healthy: (process, base URL, None), or the reason it did not start third."""
    port = _free_port()
    base = f"http://localhost:{port}"
    log = log_path.open("wb")
    options = ["--server.address", "localhost", "--server.port", str(port)]
    options += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    server = subprocess.Popen(
        [sys.executable, *args, *options],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()  # the child holds its own descriptor
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/_stcore/health", timeout=1).status_code == 200:
                return server, base, None
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-300:]
            return server, base, f"the Streamlit server did not start: {tail}"
        time.sleep(0.3)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
