"""What every browser test shares: Debian's Chromium and its flags, the skip when it is not
installed, and the product (or a small script) served by Streamlit in a child process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine

from app.services.users import create_first_admin
from app.settings import Settings
from app.simulator import SimEnterpriseOrg, SimOrg, Simulator
from tests.utils.factories import connect_enterprise, connect_org, org_pk, sync_engine
from tests.utils.processes import FINOPS, free_port, streamlit_ready

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM = "/usr/bin/chromium"
# No sandbox (a container), no GPU, and nothing the browser would fetch on its own.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SHOTS = ARTIFACTS / "screenshots"
PAGE_SHOTS = SHOTS / "pages"  # the tours of the pages, for a person to look at
ADMIN, VIEWER, PASSWORD = "admin@example.com", "viewer@example.com", "correct horse battery"
MAIN = ROOT / "app" / "main.py"

# `pytestmark = needs_chromium` in each browser test module.
needs_chromium = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (.ci/run installs it): browser test not run",
    ),
]


def launch(playwright: Playwright) -> Browser:
    """Headless Chromium from Debian's package (never a downloaded one)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


@contextmanager
def chromium() -> Iterator[Browser]:
    """`launch` inside its own Playwright, closed at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def _child(
    command: list[str],
    *,
    port: int,
    log_path: Path,
    env: Mapping[str, str] | None,
    stop: signal.Signals,
    grace: float,
) -> Iterator[str]:
    """Run ``command`` until the Streamlit server on ``port`` is healthy; yield its address;
    stop it with ``stop`` (killed after ``grace`` seconds)."""
    with log_path.open("wb") as log:
        # From the project root, so .streamlit/config.toml (the theme) applies as in `make run`.
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://localhost:{port}"
        try:
            assert streamlit_ready(base, timeout=60, interval=0.5), log_path.read_text()
            yield base
        finally:
            proc.send_signal(stop)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def streamlit_run(
    script: Path, *, log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """`streamlit run script` (the app's main.py, or a small page) on a free port."""
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("streamlit")),
        "run",
        str(script),
        "--server.headless=true",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
    ]
    with _child(
        command, port=port, log_path=log_path, env=env, stop=signal.SIGTERM, grace=15
    ) as base:
        yield base


@contextmanager
def finops_serve(
    *, log_path: Path, keep_log_as: str, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """`finops serve` (the worker and Streamlit, as `make run` starts them) on a free port,
    stopped with Ctrl-C. What it printed is kept as test-artifacts/``keep_log_as`` for whoever
    reads a failure."""
    port = free_port()
    env = {**(env or {}), "FINOPS_STREAMLIT_PORT": str(port)}
    try:
        with _child(
            [FINOPS, "serve"], port=port, log_path=log_path, env=env, stop=signal.SIGINT, grace=30
        ) as base:
            yield base
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log_path, ARTIFACTS / keep_log_as)


def sync_orgs(
    settings: Settings, engine: Engine, *, history_days: int, enterprise: bool
) -> tuple[list[SimOrg], SimEnterpriseOrg | None]:
    """Console organizations "Acme Corp" and "Globex" (and, with ``enterprise``, "Initech
    Enterprise") connected and synced from the simulator, and the first admin: the product
    as the worker leaves it, so a test needs no worker."""
    sim = Simulator(history_days=history_days)
    console = [sim.add_org(name="Acme Corp", seed=11), sim.add_org(name="Globex", seed=22)]
    ent = sim.add_enterprise_org(name="Initech Enterprise", seed=33) if enterprise else None
    syncer = sync_engine(sim, engine, settings)
    for org in console:
        connect_org(sim, org, engine=engine, settings=settings)
        assert syncer.run(org_pk(engine, org.id)).outcome == "ok"
    if ent is not None:
        joined = connect_enterprise(sim, ent.key, engine=engine, settings=settings, name=ent.name)
        assert syncer.run(org_pk(engine, joined.organization_id)).outcome == "ok"
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    return console, ent


def sign_in(page: object, email: str) -> None:
    """Type the address and the shared test password into the sign-in form, then Enter."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.get_by_label("Email").fill(email)
    field = page.get_by_role("textbox", name="Password")
    field.fill(PASSWORD)
    field.press("Enter")  # keyboard-friendly: Enter submits
    session_cookie(page)


def sign_in_to_overview(page: object) -> None:
    """Sign in as the first admin with the button; the Overview is the page that opens."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.get_by_role("textbox", name="Email").fill(ADMIN)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    session_cookie(page)


def session_cookie(page: object) -> dict[str, object]:
    """The ``finops_session`` cookie, once the browser has it (within 10 s of signing in).

    It arrives a moment after the signed-in page (the page posts a one-time code to the server,
    whose answer sets it HttpOnly): a test that opens another address at once must wait for it,
    as a person typing an address a second later never notices.
    """
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    for _ in range(100):
        for cookie in page.context.cookies():
            if cookie["name"] == "finops_session":
                return dict(cookie)
        page.wait_for_timeout(100)
    raise AssertionError("the session cookie was never set after signing in")


# No skeleton left, and every Plotly chart element has drawn its SVG: on a loaded machine a
# chart's element is on the page, empty, for a while after its skeleton went (CI: the page
# text was read before the Spend chart's legend existed).
_DRAWN = """() => !document.querySelector('[data-testid="stSkeleton"]') &&
  [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .every((el) => el.querySelector('.main-svg'))"""


def drawn(page: object) -> None:
    """Wait until the page's charts and lazy elements are drawn: Streamlit shows a skeleton
    (``stSkeleton``) in their place until then, and Plotly draws into the chart's element
    later still, for longer on a loaded machine."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.wait_for_function(_DRAWN, timeout=60_000)
    page.wait_for_timeout(300)  # the SVG's legend and bars settle after its first paint
