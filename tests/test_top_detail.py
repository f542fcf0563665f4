"""A filtered view (service tier, workspace, model, cost type: read from the detail rows) folded
to its largest groups plus "Other" equals the fold of its full result, to the cent and the token,
for every grouping: with the default workspace and the Console's key (null values), with ties
at the cut, with one workspace name in two organizations (two groups, each its organization's),
and with a group that adds up to nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import count

from sqlalchemy import Engine

from app.anthropic.schemas import CostRow, UsageRow
from app.clock import today
from app.db import write_session
from app.models import ApiKey, Workspace
from app.reports.filters import Filters, uses_rollups
from app.reports.labels import CONSOLE_KEY, DEFAULT_WORKSPACE, SPEND_GROUPS, USAGE_GROUPS
from app.reports.options import filter_options
from app.reports.spend import spend_by_day
from app.reports.top import other_label
from app.reports.usage import usage_by_day
from app.settings import Settings
from app.simulator import Simulator
from tests.test_rollups import add_counts, all_tokens, fold, other_as_counted
from tests.utils.factories import add_console_orgs, connect_org, org_pk, sync_engine

DAY = date(2026, 3, 2)

# (organization, day offset, workspace, API key, model, tier, cents): the batch rows rank
# the first organization's default workspace first, then "Alpha" at 50, then the two
# organizations' workspaces named "Shared" at 25 each; "Zero" adds up to nothing but is a
# group. The standard rows would rank "Beta" first: the filter drops them.
ROWS = [
    (0, 0, None, None, "claude-a", "batch", 60),
    (0, 1, None, None, "claude-b", "batch", 40),
    (1, 0, None, "key_b0", "claude-a", "batch", 5),
    (0, 0, "wrk_a1", "key_a1", "claude-a", "batch", 30),
    (0, 1, "wrk_a1", "key_a1", "claude-b", "batch", 20),
    (0, 2, "wrk_a2", "key_a2", "claude-b", "batch", 25),
    (1, 2, "wrk_b1", "key_b1", "claude-c", "batch", 25),
    (1, 1, "wrk_b2", "key_b2", "claude-c", "batch", 10),
    (1, 0, "wrk_b3", "key_b3", None, "batch", 0),
    (1, 0, "wrk_b2", "key_b2", "claude-a", "standard", 1000),
    (0, 2, "wrk_a1", "key_a1", "claude-a", "standard", 7),
]
NAMES = {
    "wrk_a1": "Alpha",
    "wrk_a2": "Shared",
    "wrk_b1": "Shared",
    "wrk_b2": "Beta",
    "wrk_b3": "Zero",
}
KEY_NAMES = {"key_a1": "Alpha key", "key_a2": "Second", "key_b1": "Second", "key_b2": "Beta key"}


def store_rows(engine: Engine) -> None:
    """Two organizations, their directories, and ROWS through the sync's write path."""
    from app.store import replace_days

    with write_session(engine) as session:
        pks = add_console_orgs(session, "org-top", 2, DAY)
        workspaces = {(o, ws) for o, _, ws, *_ in ROWS if ws is not None}
        keys = {(o, key) for o, _, _, key, *_ in ROWS if key in KEY_NAMES}
        session.add_all(
            Workspace(organization_pk=pks[o], workspace_id=ws, name=NAMES[ws])
            for o, ws in sorted(workspaces)
        )
        session.add_all(
            ApiKey(organization_pk=pks[o], api_key_id=key, name=KEY_NAMES[key])
            for o, key in sorted(keys)
        )
        session.flush()
        unique = count()
        for o, pk in enumerate(pks):
            cost: list[CostRow] = []
            usage: list[UsageRow] = []
            for org, offset, ws, key, model, tier, cents in ROWS:
                if org != o:
                    continue
                n = next(unique)
                day = DAY + timedelta(days=offset)
                dims = {"workspace_id": ws, "model": model, "service_tier": tier}
                cost.append(
                    CostRow(
                        day=day,
                        dims={
                            **dims,
                            "description": f"line {n % 4}" if cents else None,
                            "cost_type": "tokens" if n % 3 else "web_search",
                            "token_type": "output_tokens" if n % 2 else None,
                        },
                        amount_cents=Decimal(cents) + (Decimal("0.000125") if cents else 0),
                        currency="USD",
                    )
                )
                usage.append(
                    UsageRow(
                        day=day,
                        dims={**dims, "api_key_id": key, "context_window": f"c{n}"},
                        tokens={
                            "uncached_input_tokens": cents * 1000,
                            "cache_creation_5m_input_tokens": 0,
                            "cache_creation_1h_input_tokens": cents % 7,
                            "cache_read_input_tokens": cents * 3,
                            "output_tokens": cents,
                            "web_search_requests": n,
                        },
                    )
                )
            replace_days(session, pk, "cost", DAY, DAY + timedelta(days=3), cost)
            replace_days(session, pk, "usage", DAY, DAY + timedelta(days=3), usage)


def folds_as_the_full_result(engine: Engine, f: Filters, tops: tuple[int, ...]) -> int:
    """Every spend and usage grouping of ``f`` (a detail view), folded to each of ``tops``,
    equals the reference fold of its full result; returns how many views folded something."""
    assert not uses_rollups(f)
    folded_views = 0
    for group in SPEND_GROUPS:
        full = spend_by_day(engine, f, group)
        for top in tops:
            folded = spend_by_day(engine, f, group, top=top)
            expected = fold(full, top, lambda c: c, add=lambda a, b: a + b)
            assert other_as_counted(folded) == expected, (group, top)
            folded_views += expected != full
    for group in [*USAGE_GROUPS, "token_type"]:
        full = usage_by_day(engine, f, group)
        for top in tops:
            folded = usage_by_day(engine, f, group, top=top)
            assert other_as_counted(folded) == fold(full, top, all_tokens, add=add_counts), (
                group,
                top,
            )
            folded_views += fold(full, top, all_tokens, add=add_counts) != full
    return folded_views


def test_null_values_ties_and_shared_names_fold_as_the_full_result(engine: Engine) -> None:
    store_rows(engine)
    batch = Filters(DAY, DAY + timedelta(days=3), service_tiers=("batch",))
    assert folds_as_the_full_result(engine, batch, (1, 2, 3, 4, 12)) > 0
    # By workspace: a workspace is its organization's, whatever its name. The default workspace
    # of "Top 0" first, then the tie at 50 goes to the label first in order ("Alpha" before
    # "Shared"), the rest is "Other": Top 1's default workspace, the two "Shared", Beta, Zero.
    rows = spend_by_day(engine, batch, "workspace", top=2)
    other = other_label(5, "workspace")
    totals: dict[str, Decimal] = {}
    for _, label, cents in rows:
        totals[label] = totals.get(label, Decimal(0)) + cents
    assert totals == {
        f"{DEFAULT_WORKSPACE} · Top 0": Decimal("100.00025"),
        "Alpha · Top 0": Decimal("50.00025"),
        other: Decimal("65.0005"),
    }
    # Four: the two organizations' "Shared" are two groups of their own sums, never one.
    shared = {
        label: cents
        for _, label, cents in spend_by_day(engine, batch, "workspace", top=4)
        if label.startswith("Shared")
    }
    assert shared == {
        "Shared · Top 0": Decimal("25.000125"),
        "Shared · Top 1": Decimal("25.000125"),
    }
    # By API key: the Console's key (null) of Top 0 is the largest, then a tie at 50 tokens x
    # 1,004; the two keys named "Second" are two of the five others.
    keys = usage_by_day(engine, batch, "api_key", top=2)
    assert {label for _, label, _ in keys} == {
        f"{CONSOLE_KEY} · Top 0",
        "Alpha key · Top 0",
        other_label(5, "api_key"),
    }
    # A workspace filter (null included) is a detail view too, and folds the same way.
    some = Filters(batch.start, batch.end, workspaces=("", "wrk_a1", "wrk_b1", "wrk_b3"))
    assert folds_as_the_full_result(engine, some, (1, 2)) > 0


def test_simulated_organizations_fold_as_the_full_result(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    sync = sync_engine(sim, engine, settings)
    for org in sim.orgs.values():
        connect_org(sim, org, engine=engine, settings=settings)
        assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    options = filter_options(engine)
    start, end = today() - timedelta(days=60), today() + timedelta(days=1)
    models = tuple({v for v, _ in options["models"]} | {""})
    views = [Filters(start, end, models=models)]
    views += [Filters(start, end, service_tiers=(tier,)) for tier, _ in options["service_tiers"]]
    assert len(views) > 1
    assert sum(folds_as_the_full_result(engine, f, (2, 5)) for f in views) > 0


def test_the_rollups_never_split_a_null_below_zero(engine: Engine) -> None:
    """Spend by model, token type or tier over the rollups labels a Console organization's
    null by its costs without tokens (by cost type). Here some web search rows carry a model,
    so the day's null cannot hold all of them: such a day keeps its null whole rather than
    show a negative group, and every grouping still adds up to the day's total."""
    store_rows(engine)
    f = Filters(DAY, DAY + timedelta(days=3))
    assert uses_rollups(f)
    total = sum((c for _, _, c in spend_by_day(engine, f, "cost_type")), Decimal(0))
    for group in ("model", "token_type", "service_tier"):
        rows = spend_by_day(engine, f, group)
        assert all(cents >= 0 for _, _, cents in rows), (group, rows)
        assert sum((c for _, _, c in rows), Decimal(0)) == total, group
