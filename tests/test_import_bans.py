"""Pages, services and the read side (app/reports) import neither the API client nor the process
wiring (issue 13).

The rule is ruff's banned-import rule (TID251) in the nested configurations app/services/ruff.toml,
pages/ruff.toml and app/reports/ruff.toml; these tests run the project's ruff on probe sources as
if they were files of this repo, so a ban that stops applying (or starts applying where the
clients belong) shows up here and not in a review.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.utils.lint import banned_findings

ROOT = Path(__file__).resolve().parents[1]
RUFF = ROOT / ".venv" / "bin" / "ruff"

BANNED_HERE = ("pages/probe.py", "app/services/probe.py", "app/reports/probe.py")
# Where the clients and the wiring belong: the worker, the CLI, the UI's wiring layer.
FREE_HERE = ("ingest/probe.py", "app/cli.py", "app/ui/probe.py", "app/probe.py")

CLIENT_IMPORTS = [
    "from app.anthropic.admin import AdminClient\n",
    "from app.anthropic.analytics import AnalyticsClient\n",
    "from app.anthropic.base import BaseClient\n",
    "from app.anthropic.paging import Paginator\n",
    "import app.anthropic.admin\n",
    "from app.anthropic import analytics\n",
]
WIRING_IMPORTS = [
    "from app.runtime import keystore\n",
    "from app.runtime import get_engine, new_client\n",
    "import app.runtime\n",
    "from app import runtime\n",
    # An import inside a function is an import too.
    "def f() -> None:\n    from app.runtime import key_probe\n",
]
ALLOWED_IMPORTS = (
    "from app.anthropic.errors import AnthropicError\n"
    "from app.anthropic.keys import KeyFormatError\n"
    "from app.anthropic.schemas import OrganizationInfo\n"
    "from app.services.connections import KeyProbe, test_key\n"
    "from app.simulator.demo import DEMO_ADMIN_KEY\n"
)


@pytest.mark.parametrize("filename", BANNED_HERE)
@pytest.mark.parametrize("source", CLIENT_IMPORTS + WIRING_IMPORTS)
def test_pages_and_services_importing_the_client_or_the_wiring_fail_lint(
    source: str, filename: str
) -> None:
    assert banned_findings(source, filename), f"{filename} may import: {source}"


@pytest.mark.parametrize("filename", FREE_HERE)
@pytest.mark.parametrize("source", CLIENT_IMPORTS + WIRING_IMPORTS)
def test_the_worker_the_cli_and_the_ui_wiring_import_them_freely(
    source: str, filename: str
) -> None:
    assert banned_findings(source, filename) == []


@pytest.mark.parametrize("filename", BANNED_HERE)
def test_pages_and_services_may_import_the_api_data_types_and_checks(filename: str) -> None:
    assert banned_findings(ALLOWED_IMPORTS, filename) == []


@pytest.mark.parametrize("filename", BANNED_HERE + FREE_HERE)
def test_the_simulator_boundary_still_applies_everywhere(filename: str) -> None:
    # A nested configuration replaces the root's banned-api table instead of merging it.
    assert banned_findings("from app.simulator.world import World\n", filename)


def _banned_api(path: Path) -> dict[str, Any]:
    config = tomllib.loads(path.read_text())
    lint = config["tool"]["ruff"]["lint"] if path.name == "pyproject.toml" else config["lint"]
    banned: dict[str, Any] = lint["flake8-tidy-imports"]["banned-api"]
    return banned


def test_the_nested_configuration_restates_every_ban_of_the_root() -> None:
    """ruff's `extend` replaces the banned-api table: a ban added to pyproject.toml must be added
    to app/services/ruff.toml too (pages/ruff.toml extends that file and adds nothing)."""
    root = _banned_api(ROOT / "pyproject.toml")
    services = _banned_api(ROOT / "app" / "services" / "ruff.toml")
    assert root.items() <= services.items()
    assert set(services) - set(root) == {
        "app.anthropic.admin",
        "app.anthropic.analytics",
        "app.anthropic.base",
        "app.anthropic.paging",
        "app.runtime",
    }
    pages = tomllib.loads((ROOT / "pages" / "ruff.toml").read_text())
    assert pages == {"extend": "../app/services/ruff.toml"}
    reports = tomllib.loads((ROOT / "app" / "reports" / "ruff.toml").read_text())
    assert reports == {"extend": "../services/ruff.toml"}


def test_the_product_code_keeps_to_the_bans() -> None:
    """The rule holds for the code as it is (what `make lint` checks)."""
    done = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--select", "TID251", "app", "ingest", "pages"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
