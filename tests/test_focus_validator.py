"""The FOCUS export of a month of simulator data, judged by the FinOps Foundation's own
``focus-validator`` (tests/focus_validator.py installs it in .venv-focus; `make test` does).

If the validator is not installed this test FAILS, saying so: a missing validator must never
read as a passing export.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app import cli
from app.clock import today
from app.finops.allocation import import_allocation
from app.reports.periods import month_start
from app.settings import Settings
from app.simulator import Simulator
from tests import focus_validator
from tests.test_focus_export import SPLIT_TEAM
from tests.utils.snapshots import synced_copy

# The FOCUS 1.3 Cost and Usage columns whose feature level is Mandatory (the 1.2 set, and the
# two 1.3 added). Written out here rather than taken from the product, so the product cannot
# agree with itself: the validator bundles 1.2 rules only (1.3's are a release asset).
FOCUS_1_3_MANDATORY = {
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "ServiceProviderName",
    "HostProviderName",
}


@pytest.fixture
def last_month(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[date, date]]:
    """Two Console organizations and a Claude Enterprise one, synced for two months; the
    last complete calendar month."""
    monkeypatch.setenv("FINOPS_BACKFILL_MONTHS", "2")
    synced_copy(sim, engine, Settings())
    # Tags hold each line's allocation: validated too.
    import_allocation(engine, SPLIT_TEAM, actor="test")
    end = month_start(today())
    yield month_start(end - timedelta(days=1)), end


def _export(tmp_path: Path, version: str, month: tuple[date, date]) -> Path:
    target = tmp_path / f"focus-{version}.csv"
    args = ["export", "--dataset", "focus", "--focus-version", version, "-o", str(target)]
    args += ["--start", month[0].isoformat(), "--end", month[1].isoformat()]
    assert cli.main(args) == 0
    return target


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_focus_validator_finds_no_failed_rule_in_a_month_of_focus_1_2(
    last_month: tuple[date, date], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        focus_validator.executable()
    except focus_validator.NotInstalled as exc:
        pytest.fail(f"NOT VALIDATED: {exc}")
    path = _export(tmp_path, "1.2", last_month)
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 500  # a month of three organizations, not an empty file
    assert {r["x_CostType"] for r in rows} >= {"tokens", "web_search", "code_execution"}
    verdict = focus_validator.validate(path, version="1.2")
    with capsys.disabled():
        print(
            f"\nfocus-validator 1.2: {verdict.tests} rules checked on {len(rows)} rows, "
            f"{len(verdict.failures())} failed ({len(verdict.failed)} reported, less the "
            f"alternatives of OR rules that held), {verdict.skipped} not applicable"
        )
    assert verdict.tests > 100  # the rules ran (an empty report proves nothing)
    assert verdict.failures() == []
    # Also with no applicability criteria at all (the validator's default run).
    assert focus_validator.validate(path, version="1.2", applicability=()).failures() == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_focus_1_3_export_has_every_mandatory_1_3_column(
    last_month: tuple[date, date], tmp_path: Path
) -> None:
    path = _export(tmp_path, "1.3", last_month)
    with path.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = set(reader.fieldnames or ())
    assert columns >= FOCUS_1_3_MANDATORY, FOCUS_1_3_MANDATORY - columns
    assert rows and {r["ServiceProviderName"] for r in rows} == {"Anthropic"}
    assert {r["HostProviderName"] for r in rows} == {"Anthropic"}
    # Mandatory non-null columns are never empty.
    for name in FOCUS_1_3_MANDATORY - {"ChargeClass"}:
        assert all(r[name] for r in rows), name
