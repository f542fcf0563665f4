"""The simulator's boundary: product code reaches the simulator only through ``app.simulator.demo``.

The rule is ruff's banned-import rule (TID251, in pyproject.toml); these tests run ruff on probe
sources as if they were product files, so a gap in the ban list shows up here and not in a review.
"""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from pathlib import Path

import pytest

import app.simulator
from tests.utils.lint import banned_findings

ROOT = Path(__file__).resolve().parents[1]

# Files outside the simulator that must stay within the boundary (pages/ and ingest/ are product).
PRODUCT_FILES = (
    "app/services/probe.py",
    "app/runtime_probe.py",
    "pages/probe.py",
    "ingest/probe.py",
)


@pytest.mark.parametrize("filename", PRODUCT_FILES)
@pytest.mark.parametrize(
    "source",
    [
        "import app.simulator.world\n",
        "from app.simulator.world import World\n",
        "from app.simulator import Simulator\n",
        "from app.simulator import world\n",
        "from app.simulator.pricing import price_for\n",
        "from app.simulator.demo import Simulator\n",
        "import app.simulator\n\napp.simulator.Simulator()\n",
    ],
)
def test_product_code_importing_the_simulator_fails_lint(source: str, filename: str) -> None:
    assert banned_findings(source, filename)


@pytest.mark.parametrize("filename", PRODUCT_FILES)
def test_product_code_may_import_the_demo_entry_point(filename: str) -> None:
    source = (
        "from app.simulator.demo import DEMO_ADMIN_KEY, DEMO_ANALYTICS_KEY, DEMO_ENTERPRISE_NAME\n"
        "from app.simulator.demo import demo_simulator\n\n"
        "demo_simulator().transport()\n"
    )
    assert banned_findings(source, filename) == []


@pytest.mark.parametrize("filename", ["tests/probe.py", "bench/probe.py", "app/simulator/x.py"])
def test_the_simulator_tests_and_bench_import_it_freely(filename: str) -> None:
    assert banned_findings("from app.simulator.world import World\n", filename) == []


def test_every_simulator_module_and_name_is_banned_but_the_demo() -> None:
    """A new module of the simulator, or a new name it exports, joins the ban list."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    banned = set(config["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"])
    modules = {m.name for m in pkgutil.iter_modules(app.simulator.__path__)}
    assert "demo" in modules
    expected = {f"app.simulator.{name}" for name in (modules - {"demo"}) | {"__main__"}}
    # Every name the package defines or re-exports from its modules, public or not in __all__.
    expected |= {
        f"app.simulator.{name}"
        for name, value in vars(app.simulator).items()
        if not name.startswith("_")
        and name != "demo"
        and (getattr(value, "__module__", "") or getattr(value, "__name__", "")).startswith(
            "app.simulator"
        )
    }
    assert "app.simulator.Simulator" in expected and "app.simulator.World" in expected
    demo = importlib.import_module("app.simulator.demo")
    leaked = {
        name
        for name, value in vars(demo).items()
        if not name.startswith("_")
        and name not in demo.__all__
        and getattr(value, "__module__", "").startswith("app.simulator")
    }
    expected |= {f"app.simulator.demo.{name}" for name in leaked}
    assert expected <= banned
    assert set(demo.__all__) == {
        "DEMO_ADMIN_KEY",
        "DEMO_ANALYTICS_KEY",
        "DEMO_ENTERPRISE_NAME",
        "DEMO_ORG_NAME",
        "demo_simulator",
    }
