"""The "Other (N …)" group the smaller groups are added up into is known from the fold that
made it, never from its text: a workspace or API key named like it is an ordinary group (its
own sums, sorted by size, coloured as the others), and the real "Other" is still last and grey.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, select, update
from sqlmodel import col

from app.clock import today
from app.db import read_session, write_session
from app.models import ApiKey, Workspace
from app.reports.filters import Filters
from app.reports.frames import Grouped, to_csv
from app.reports.options import filter_options
from app.reports.spend import spend_over_time, spend_totals
from app.reports.top import other_label
from app.reports.usage import tokens_by_group, total_tokens, usage_over_time, usage_totals
from app.settings import Settings
from app.simulator import Simulator
from app.ui.charts import OTHER_COLOUR, stacked_bars
from tests.utils.factories import connect_org, org_pk, sync_engine

TOP = 2


def synced(sim: Simulator, engine: Engine, settings: Settings) -> None:
    sync = sync_engine(sim, engine, settings)
    for org in sim.orgs.values():
        connect_org(sim, org, engine=engine, settings=settings)
        assert sync.run(org_pk(engine, org.id)).outcome == "ok"


def views(engine: Engine, sim: Simulator) -> list[Filters]:
    """The same rows through the rollups (largest found first) and through the detail rows
    (folded in one pass): the two ways ``top`` folds. Of one organization: with two in view,
    every name carries its organization's ("Production · Acme Corp"), so none can read as
    "Other (N …)"; with one, a directory name is the label as it is."""
    first = (next(iter(sim.orgs)),)
    rolled = Filters(today() - timedelta(days=60), today() + timedelta(days=1), first)
    models = tuple({v for v, _ in filter_options(engine)["models"]} | {""})
    return [rolled, Filters(rolled.start, rolled.end, first, models=models)]


def totals_of(grouped: Grouped, value: str) -> dict[str, object]:
    frame = grouped.frame
    return dict(zip(frame[grouped.group], frame[value], strict=True))


def grey_traces(grouped: Grouped, value: str) -> list[str]:
    fig = stacked_bars(
        grouped.frame, value=value, group=grouped.group, money=False, title="", other=grouped.other
    )
    return [t.name for t in fig.data if t.marker.color == OTHER_COLOUR]


def test_a_workspace_named_like_other_is_an_ordinary_group(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    synced(sim, engine, settings)
    for f in views(engine, sim):
        plain = spend_totals(spend_over_time(engine, f, "workspace", "day"))
        names = list(plain.frame["Workspace"])
        assert len(names) > TOP + 2, "the test needs workspaces to fold"
        assert plain.other is None
        real = other_label(len(names) - TOP, "workspace")
        # One of the largest workspaces is called like an "Other" group, but not the real one.
        i = renameable(engine, Workspace, names)
        lookalike = other_label(len(names) + 5, "workspace")
        set_workspace_name(engine, names[i], lookalike)
        over_time = spend_over_time(engine, f, "workspace", "day", top=TOP)
        totals = spend_totals(over_time)
        assert over_time.other == real
        named = [lookalike if j == i else n for j, n in enumerate(names[:TOP])]
        # By size, the look-alike where its spend puts it, the real "Other" last.
        assert list(totals.frame["Workspace"]) == [*named, real]
        assert totals.is_other(real) and not totals.is_other(lookalike)
        assert totals.shown_other == real
        assert list(totals.named()["Workspace"]) == named
        assert grey_traces(over_time, "amount_usd") == [real]
        # Nothing lost, and the CSV columns are those of every spend chart.
        assert sum(totals.frame["amount_usd"], start=Decimal(0)) == sum(
            plain.frame["amount_usd"], start=Decimal(0)
        )
        assert to_csv(over_time.frame).splitlines()[0] == b"period,Workspace,amount_usd"
        assert to_csv(totals.frame).splitlines()[0] == b"Workspace,amount_usd"
        set_workspace_name(engine, lookalike, names[i])


def test_a_workspace_named_exactly_as_the_other_group_keeps_its_own_sums(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    synced(sim, engine, settings)
    for f in views(engine, sim):
        plain = spend_totals(spend_over_time(engine, f, "workspace", "day"))
        names = list(plain.frame["Workspace"])
        amounts = list(plain.frame["amount_usd"])
        real = other_label(len(names) - TOP, "workspace")
        i = renameable(engine, Workspace, names)
        set_workspace_name(engine, names[i], real)
        over_time = spend_over_time(engine, f, "workspace", "day", top=TOP)
        totals = spend_totals(over_time)
        # The two stay two groups: the workspace keeps its own total, "Other" is told apart.
        assert over_time.other == real + " (added up)"
        named = [real if j == i else n for j, n in enumerate(names[:TOP])]
        assert list(totals.frame["Workspace"]) == [*named, over_time.other]
        by_name = totals_of(totals, "amount_usd")
        assert by_name[real] == amounts[i]
        assert by_name[over_time.other] == sum(amounts[TOP:], start=Decimal(0))
        assert grey_traces(over_time, "amount_usd") == [over_time.other]
        set_workspace_name(engine, real, names[i])


def test_an_api_key_named_like_other_is_an_ordinary_group_in_usage(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    synced(sim, engine, settings)
    for f in views(engine, sim):
        plain = usage_totals(usage_over_time(engine, f, "api_key", "day"))
        names = list(plain.frame["API key"])
        assert len(names) > TOP + 2, "the test needs API keys to fold"
        real = other_label(len(names) - TOP, "api_key")
        i = renameable(engine, ApiKey, names)
        lookalike = other_label(len(names) + 5, "api_key")
        set_key_name(engine, names[i], lookalike)
        over_time = usage_over_time(engine, f, "api_key", "day", top=TOP)
        totals = usage_totals(over_time)
        assert over_time.other == real
        named = [lookalike if j == i else n for j, n in enumerate(names[:TOP])]
        assert list(totals.frame["API key"]) == [*named, real]
        assert totals.shown_other == real
        assert grey_traces(tokens_by_group(over_time), "tokens") == [real]
        assert list(total_tokens(totals).frame.columns) == ["API key", "tokens"]
        assert int(totals.frame["tokens"].sum()) == int(plain.frame["tokens"].sum())
        set_key_name(engine, lookalike, names[i])


def renameable(engine: Engine, table: type[Workspace] | type[ApiKey], names: list[str]) -> int:
    """The index of one of the ``TOP`` largest groups that has directory entries (not the
    default workspace or the Console's key, which have none)."""
    with read_session(engine) as session:
        counts = Counter(session.execute(select(col(table.name))).scalars())
    [i, *_] = [i for i, name in enumerate(names[:TOP]) if counts[name]]
    return i


def set_workspace_name(engine: Engine, old: str, new: str) -> None:
    """Rename a workspace in the directory, as a person could in the Console."""
    with write_session(engine) as session:
        result = session.execute(
            update(Workspace).where(col(Workspace.name) == old).values(name=new)
        )
        assert result.rowcount >= 1, old


def set_key_name(engine: Engine, old: str, new: str) -> None:
    """Rename an API key in the directory."""
    with write_session(engine) as session:
        result = session.execute(update(ApiKey).where(col(ApiKey.name) == old).values(name=new))
        assert result.rowcount >= 1, old
