"""`finops export --dataset focus`: BilledCost adds up to the cost report exactly, per
organization and day; ids, periods and units are what PRODUCT.md promises."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app import cli
from app.clock import today
from app.finops.focus import _apportion, export_focus, header, token_list_rate
from app.reports.export import export_csv
from app.reports.periods import month_start
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.snapshots import synced_copy

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00Z$")


@pytest.fixture
def synced(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    monkeypatch.setenv("FINOPS_BACKFILL_MONTHS", "1")
    return synced_copy(sim, engine, Settings())


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_billed_cost_equals_the_cost_report_per_organization_and_day(
    synced: list[str], engine: Engine
) -> None:
    cost, focus = io.StringIO(), io.StringIO()
    export_csv(engine=engine, dataset="cost", out=cost)
    export_focus(engine, focus)
    report: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in _rows(cost.getvalue()):
        report[(row["organization_id"], row["date"])] += Decimal(row["amount_usd"])
    exported: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    rows = _rows(focus.getvalue())
    for row in rows:
        exported[(row["BillingAccountId"], row["ChargePeriodStart"][:10])] += Decimal(
            row["BilledCost"]
        )
    assert len(rows) == len(_rows(cost.getvalue()))  # one row per billed cost line
    assert {org for org, _ in exported} == set(synced)
    assert exported == report  # exact decimals, every organization and day
    assert sum(exported.values()) > 0


def test_ids_periods_and_units_follow_the_contract(synced: list[str], engine: Engine) -> None:
    out = io.StringIO()
    export_focus(engine, out)
    rows = _rows(out.getvalue())
    for row in rows:
        for column in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart"):
            assert TIMESTAMP.match(row[column]), (column, row[column])
        day = date.fromisoformat(row["ChargePeriodStart"][:10])
        assert row["ChargePeriodEnd"][:10] == (day + timedelta(days=1)).isoformat()
        assert row["BillingPeriodStart"][:10] == month_start(day).isoformat()
        assert row["BillingPeriodEnd"][:8] != row["BillingPeriodStart"][:8]  # next month
        assert row["ChargeCategory"] == "Usage"
        assert row["BillingCurrency"] == "USD"
        assert row["ServiceCategory"] == "AI and Machine Learning"
        assert row["ServiceSubcategory"] == "Generative AI"
        assert row["ProviderName"] == row["PublisherName"] == row["InvoiceIssuerName"]
        assert row["EffectiveCost"] == row["ContractedCost"] == row["BilledCost"]
        assert row["x_WorkspaceName"] != "Default workspace" or row["SubAccountId"] == ""
        if row["SubAccountId"] == "":
            assert row["SubAccountName"] == ""  # FOCUS: no name without an id
    tokens = [r for r in rows if r["x_CostType"] == "tokens"]
    assert tokens and {r["ConsumedUnit"] for r in tokens} == {"Tokens"}
    assert {r["PricingUnit"] for r in tokens} == {"1000000 Tokens"}
    # Every token line found its tokens in the usage report, and at list price the cost
    # matches what Anthropic billed for standard-tier lines to the micro-dollar.
    assert {r["x_QuantitySource"] for r in tokens} <= {"usage", "usage_shared_by_geo"}
    standard = [
        r
        for r in tokens
        if r["x_ServiceTier"] == "standard" and r["x_ListCostSource"] == "list_price"
    ]
    assert standard
    for row in standard:
        assert abs(Decimal(row["ListCost"]) - Decimal(row["BilledCost"])) < Decimal("0.0001")
    assert any(r["SubAccountId"] == "" for r in rows)  # Default workspace lines
    assert {r["Tags"] for r in rows} == {"{}"}


def test_list_rates_follow_the_price_page() -> None:
    kwargs = {"service_tier": "standard", "inference_geo": "global", "context_window": "0-200k"}
    assert token_list_rate("claude-sonnet-4-5", "output_tokens", **kwargs) == Decimal(15)
    assert token_list_rate("claude-sonnet-4-5", "cache_read_input_tokens", **kwargs) == Decimal(
        "0.3"
    )
    batch = {**kwargs, "service_tier": "batch"}
    assert token_list_rate("claude-haiku-4-5", "uncached_input_tokens", **batch) == Decimal("0.5")
    us = {**kwargs, "inference_geo": "us"}
    assert token_list_rate("claude-opus-4-6", "uncached_input_tokens", **us) == Decimal("5.5")
    assert token_list_rate("claude-unknown-9", "output_tokens", **kwargs) is None
    assert (
        token_list_rate("claude-haiku-4-5", "output_tokens", **{**kwargs, "service_tier": "flex"})
        is None
    )


def test_apportioned_tokens_add_up_exactly() -> None:
    assert sum(_apportion(1001, [Decimal(1), Decimal(2), Decimal(0)])) == 1001
    assert _apportion(10, [Decimal(0), Decimal(0)]) == [5, 5]


def test_cli_versions_and_bad_input(
    synced: list[str], engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "focus.csv"
    first = month_start(today())
    args = ["export", "--dataset", "focus", "--org", synced[0], "--start", first.isoformat()]
    assert cli.main([*args, "--focus-version", "1.3", "-o", str(target)]) == 0
    with target.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == header("1.3")
    assert {r["BillingAccountId"] for r in rows} == {synced[0]}
    assert all(r["ChargePeriodStart"] >= f"{first}T" for r in rows)
    capsys.readouterr()
    assert cli.main(["export", "--dataset", "focus", "-o", str(tmp_path / "d.csv")]) == 0
    with (tmp_path / "d.csv").open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(header("1.2"))  # 1.2 by default
    with pytest.raises(SystemExit) as exited:
        cli.main(["export", "--dataset", "focus", "--focus-version", "2.0"])
    assert exited.value.code != 0


SPLIT_TEAM = """\
allocation: Team
default: Unallocated
rules:
  - split: {method: fixed, weights: {Search: 60, Support: 40}}
    match: {workspace: [Default workspace]}
"""


def test_tags_carry_each_lines_allocation(synced: list[str], engine: Engine) -> None:
    from app.finops.allocation import import_allocation

    import_allocation(engine, SPLIT_TEAM, actor="test")
    out = io.StringIO()
    export_focus(engine, out)
    rows = _rows(out.getvalue())
    tags = {(r["SubAccountId"] == ""): r["Tags"] for r in rows}
    # The Default workspace's lines are split 60/40; every other line is Unallocated.
    assert tags[True] == '{"Team":"Search (60%), Support (40%)"}'
    assert tags[False] == '{"Team":"Unallocated"}'
    assert {r["Tags"] for r in rows} == {tags[True], tags[False]}
