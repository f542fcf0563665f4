"""The `finops` command end to end, over real HTTP to the simulator on loopback."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from app.clock import months_back, today
from app.settings import Settings
from app.simulator import SimOrg, Simulator
from tests.utils.factories import truth_cost, truth_usage
from tests.utils.processes import finops

pytestmark = pytest.mark.slow


def orgs_of(sim: Simulator) -> list[SimOrg]:
    return list(sim.orgs.values())


def csv_cost(text: str) -> dict[tuple[date, str | None, str | None], Decimal]:
    totals: dict[tuple[date, str | None, str | None], Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(text)):
        key = (date.fromisoformat(row["date"]), row["workspace_id"] or None, row["model"] or None)
        totals[key] += Decimal(row["amount_usd"]) * 100
    return dict(totals)


def csv_usage(text: str) -> dict[tuple[date, str | None, str | None], tuple[int, ...]]:
    names = [
        "uncached_input_tokens",
        "cache_creation_5m_input_tokens",
        "cache_creation_1h_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
        "web_search_requests",
    ]
    totals: dict[tuple[date, str | None, str | None], list[int]] = defaultdict(lambda: [0] * 6)
    for row in csv.DictReader(io.StringIO(text)):
        key = (date.fromisoformat(row["date"]), row["workspace_id"] or None, row["model"] or None)
        for i, name in enumerate(names):
            totals[key][i] += int(row[name])
    return {k: tuple(v) for k, v in totals.items() if any(v)}


def export(dataset: str, org_id: str) -> str:
    result = finops("export", "--dataset", dataset, "--org", org_id)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.default_backfill
def test_connect_sync_export_match_the_api(http_sim: Simulator, settings: Settings) -> None:
    acme, globex = orgs_of(http_sim)
    # One key from the environment, one from standard input (never argv).
    first = finops("connect", "--name", "Acme (prod)", env={"FINOPS_ADMIN_KEY": acme.admin_key})
    assert first.returncode == 0, first.stderr
    assert f"organization_id: {acme.id}" in first.stdout
    assert "sk-ant-admin01-…" in first.stdout
    second = finops("connect", stdin=globex.admin_key + "\n")
    assert second.returncode == 0, second.stderr
    assert globex.name in second.stdout

    listed = json.loads(finops("orgs", "--json").stdout)
    assert {o["organization_id"]: o["status"] for o in listed} == {
        acme.id: "backfilling",
        globex.id: "backfilling",
    }

    synced = finops("sync")
    assert synced.returncode == 0, synced.stderr
    start = months_back(today(), settings.backfill_months)
    end = today() + timedelta(days=1)
    for org in (acme, globex):
        cost_csv = export("cost", org.id)
        header = cost_csv.splitlines()[0]
        # The contract's columns first, in order; more may follow.
        assert header.startswith(
            "date,organization_id,organization_name,workspace_id,workspace_name,description,"
            "cost_type,model,token_type,service_tier,context_window,inference_geo,amount_usd,currency,"
        )
        assert csv_cost(cost_csv) == truth_cost(http_sim, org.id, start, end)
        assert csv_usage(export("usage", org.id)) == truth_usage(http_sim, org.id, start, end)

    listed = json.loads(finops("orgs", "--json").stdout)
    by_id = {o["organization_id"]: o for o in listed}
    assert by_id[acme.id]["name"] == "Acme (prod)"
    assert by_id[acme.id]["status"] == "healthy"
    assert by_id[acme.id]["backfill_progress"] == 1.0
    assert by_id[acme.id]["last_synced_at"].endswith("Z")
    assert by_id[acme.id]["provider"] == "Anthropic"

    # A second sync changes nothing; a revision upstream is picked up by the next one.
    before = export("cost", acme.id)
    assert finops("sync").returncode == 0
    assert export("cost", acme.id) == before
    http_sim.revise(acme.id, days=2)
    assert finops("sync", "--org", acme.id).returncode == 0
    assert csv_cost(export("cost", acme.id)) == truth_cost(http_sim, acme.id, start, end)

    # Delete needs --yes; afterwards the organization and its data are gone.
    refused = finops("delete", acme.id)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert finops("delete", acme.id, "--yes").returncode == 0
    again = finops("delete", acme.id, "--yes")
    assert again.returncode != 0 and "No connected organization" in again.stderr
    assert [o["organization_id"] for o in json.loads(finops("orgs", "--json").stdout)] == [
        globex.id
    ]
    assert export("cost", globex.id).count("\n") > 100
    assert finops("export", "--dataset", "cost", "--org", acme.id).returncode != 0


def test_export_date_range_is_end_exclusive(http_sim: Simulator) -> None:
    org = orgs_of(http_sim)[0]
    assert finops("connect", env={"FINOPS_ADMIN_KEY": org.admin_key}).returncode == 0
    assert finops("sync").returncode == 0
    start, end = today() - timedelta(days=20), today() - timedelta(days=10)
    out = finops(
        "export", "--dataset", "cost", "--start", start.isoformat(), "--end", end.isoformat()
    )
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    # Exactly the API's rows of [start, end): the first day in, the end day out.
    expected = http_sim.truth_cost(org.id, start, end)
    assert len(rows) == len(expected) > 0
    assert {r["date"] for r in rows} == {t.date.isoformat() for t in expected}
    assert all(start.isoformat() <= r["date"] < end.isoformat() for r in rows)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("sk-ant-api03-" + "R" * 93 + "AA", "regular Claude API key"),
        ("sk-ant-api01-" + "E" * 93 + "AA", "Claude Enterprise"),
        ("not a key at all", "does not look like an Anthropic Admin API key"),
        ("sk-ant-admin01-" + "Z" * 93 + "AA", "rejected the key"),  # right shape, unknown key
    ],
)
def test_bad_keys_exit_non_zero_and_store_nothing(http_sim: Simulator, key: str, says: str) -> None:
    result = finops("connect", env={"FINOPS_ADMIN_KEY": key})
    assert result.returncode == 1
    assert says in result.stderr
    if len(key) > 40:
        assert key[-40:] not in result.stderr + result.stdout
    assert json.loads(finops("orgs", "--json").stdout) == []


def test_key_never_reaches_disk_logs_or_output(
    http_sim: Simulator, settings: Settings, tmp_path: Path
) -> None:
    org = orgs_of(http_sim)[0]
    outputs = []
    for args in (
        ("connect",),
        ("sync",),
        ("orgs",),
        ("orgs", "--json"),
        ("export", "--dataset", "cost"),
    ):
        result = finops(*args, env={"FINOPS_ADMIN_KEY": org.admin_key})
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    http_sim.reject_key(org.id)
    failed = finops("sync")
    assert failed.returncode == 1 and "rejected the key" in failed.stderr
    outputs.append(failed.stdout + failed.stderr)
    secret = org.admin_key
    fragments = [secret, secret[15:], secret[20:44], secret[-30:-4]]
    for text in outputs:
        for fragment in fragments:
            assert fragment not in text
    # Every value of every table, on either backend...
    engine = create_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        dump = "".join(
            repr(row)
            for table in reversed(SQLModel.metadata.sorted_tables)
            for row in conn.execute(table.select())
        )
    engine.dispose()
    assert org.id in dump  # the dump really holds the organization's rows
    for fragment in fragments:
        assert fragment not in dump
    # ...and, for SQLite, the raw bytes of the database, its WAL and the data directory.
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    if settings.resolved_database_url.startswith("sqlite"):
        assert "finops.db" in {p.name for p in files}  # (the WAL is merged on close)
    for path in files:
        blob = path.read_bytes()
        for fragment in fragments:
            assert fragment.encode() not in blob, f"key material found in {path.name}"


def test_sync_with_nothing_connected_and_unknown_org(http_sim: Simulator) -> None:
    empty = finops("sync")
    assert empty.returncode == 0 and "No organizations connected" in empty.stdout
    unknown = finops("sync", "--org", "nope")
    assert unknown.returncode == 1 and "No connected organization" in unknown.stderr
    assert json.loads(finops("orgs", "--json").stdout) == []


def test_rotate_master_key_from_the_command_line(
    http_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The key-file setup a default install has (no FINOPS_MASTER_KEY).
    monkeypatch.delenv("FINOPS_MASTER_KEY")
    org = orgs_of(http_sim)[0]
    assert finops("connect", env={"FINOPS_ADMIN_KEY": org.admin_key}).returncode == 0
    key_file = tmp_path / "data" / "master.key"
    before = key_file.read_text()
    rotated = finops("rotate-master-key")
    assert rotated.returncode == 0, rotated.stderr
    assert "Re-encrypted 1 stored key(s)" in rotated.stdout
    after = key_file.read_text()
    assert after != before and len(after.split()) == 1  # a new key, the old one retired
    synced = finops("sync")
    assert synced.returncode == 0, synced.stderr  # the stored key still opens the organization


def test_enterprise_beside_console_through_the_cli(http_sim: Simulator, settings: Settings) -> None:
    """`finops connect --provider enterprise`, then sync and export: each organization under
    its own provider, Enterprise cost equal to the Analytics API's, and Claude Code per actor
    and day exported for the Console one."""
    http_sim.analytics_rpm = None
    ent = http_sim.add_enterprise_org(name="Initech Enterprise", seed=55)
    acme = orgs_of(http_sim)[0]
    env = {"FINOPS_ENTERPRISE_REQUESTS_PER_MINUTE": "100000", "FINOPS_CLAUDE_CODE": "true"}
    wrong = finops(
        "connect", "--provider", "enterprise", env={**env, "FINOPS_ANALYTICS_KEY": acme.admin_key}
    )
    assert wrong.returncode == 1 and "Console Admin key" in wrong.stderr
    assert acme.admin_key not in wrong.stdout + wrong.stderr
    connected = finops(
        "connect",
        "--provider",
        "enterprise",
        "--name",
        "Initech",
        "--json",
        env={**env, "FINOPS_ANALYTICS_KEY": ent.key},
    )
    assert connected.returncode == 0, connected.stderr
    result = json.loads(connected.stdout)
    assert result["provider"] == "Anthropic (Analytics API)" and result["name"] == "Initech"
    assert ent.key not in connected.stdout
    assert finops("connect", env={**env, "FINOPS_ADMIN_KEY": acme.admin_key}).returncode == 0

    synced = finops("sync", env=env, timeout=300)
    assert synced.returncode == 0, synced.stderr
    listed = {o["organization_id"]: o for o in json.loads(finops("orgs", "--json").stdout)}
    enterprise_id = result["organization_id"]
    assert listed[enterprise_id]["provider"] == "Anthropic (Analytics API)"
    assert listed[acme.id]["provider"] == "Anthropic"
    assert {o["status"] for o in listed.values()} == {"healthy"}

    rows = list(csv.DictReader(io.StringIO(export("cost", enterprise_id))))
    first = date.fromisoformat(min(r["date"] for r in rows))
    truth = sum(r.amount_cents for r in http_sim.truth_enterprise_cost(ent.id, first, today()))
    assert sum(Decimal(r["amount_usd"]) for r in rows) * 100 == truth
    assert {r["organization_id"] for r in rows} == {enterprise_id}

    code = list(csv.DictReader(io.StringIO(export("claude_code", acme.id))))
    sessions: dict[tuple[str, str], int] = defaultdict(int)
    for r in code:
        sessions[(r["date"], r["actor"])] += int(r["sessions"])
    day = date.fromisoformat(code[0]["date"])
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for record in http_sim.truth_claude_code(acme.id, day):
        actor = record["actor"].get("email_address") or record["actor"].get("api_key_name")
        expected[(day.isoformat(), actor)] += record["core_metrics"]["num_sessions"]
    assert {k: v for k, v in sessions.items() if k[0] == day.isoformat()} == expected
