"""The engine and cached reads for pages. Nothing here holds a decrypted key."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import streamlit as st
from sqlalchemy import Engine

from app.finops.allocation_file import parse_allocation
from app.finops.allocation_preview import Preview, preview
from app.reports import claude_code, economics, enterprise, reconciliation, spend, usage
from app.reports import demo as report_demo
from app.reports import key_costs as report_key_costs
from app.reports import options as report_options
from app.reports.filters import CodeFilters, EnterpriseFilters, Filters
from app.reports.frames import Grouped
from app.reports.labels import KEY_COST_GROUPS, SPEND_GROUPS, USAGE_GROUPS, allocation_group
from app.reports.periods import usd
from app.reports.top import TOP_GROUPS
from app.runtime import dashboard_engine
from app.services.organizations import OrgSummary, list_organizations
from app.settings import Settings, get_settings

READ_TTL = 60  # seconds; the worker refreshes data every few minutes at most


def settings() -> Settings:
    return get_settings()


def engine() -> Engine:
    return dashboard_engine(settings())


def database_key() -> str:
    """Part of every cache key, so two databases never share cached figures."""
    return settings().resolved_database_url


def organizations() -> list[OrgSummary]:
    # Not cached: status and progress must be live.
    return list_organizations(engine())


def demo_mix() -> report_demo.DemoMix:
    # Not cached: one tiny query, and the demo choice must follow a connect or a delete made
    # elsewhere (the CLI) at once, as the SQL that leaves demo data out does.
    return report_demo.demo_mix(engine())


def spend_groups(allocations: dict[str, list[str]]) -> dict[str, str]:
    """The Spend page's groups, API key where per-key cost exists, and each of
    ``allocations`` (``allocation_values()``: "Team"). Not cached: a tiny query, and an
    allocation imported from the CLI must be offered at once."""
    # By API key only where per-key billed cost is synced (the cost report has no key).
    by_key = KEY_COST_GROUPS if spend.has_key_cost(engine()) else {}
    return SPEND_GROUPS | by_key | {allocation_group(name): name for name in allocations}


def usage_groups() -> dict[str, str]:
    """The Usage page's groups, and Actor where per-actor usage is synced (the usage report
    has no actor). Not cached, as ``spend_groups``: a tiny query."""
    by_actor = {"actor": KEY_COST_GROUPS["actor"]} if usage.has_key_usage(engine()) else {}
    return USAGE_GROUPS | by_actor


def allocation_groups() -> dict[str, str]:
    """The Spend groups of the allocations (``allocation:Team`` -> "Team"), by name. Not
    cached, as ``spend_groups``: one tiny query."""
    return spend.allocation_groups(engine())


def allocation_values() -> dict[str, list[str]]:
    """Each allocation's values, for its filter on Spend. Not cached, as ``spend_groups``:
    two tiny queries over the rules."""
    return spend.allocation_values(engine())


@st.cache_data(ttl=READ_TTL, show_spinner="Applying the rules to the last days' spend…")
def allocation_preview(db: str, text: str, days: int) -> Preview:
    """What the rules of ``text`` (an allocation file the editor checked) would allocate over
    the last ``days`` days: cached per file, so an edit elsewhere on the page is instant."""
    return preview(engine(), parse_allocation(text), days=days)


@st.cache_data(ttl=READ_TTL, show_spinner=False)
def options(db: str) -> dict[str, list[tuple[str, str]]]:
    return report_options.filter_options(engine())


@st.cache_data(ttl=READ_TTL, show_spinner="Adding up spend…")
def spend_over_time(db: str, f: Filters, group: str, grain: str) -> Grouped:
    """The largest groups, the rest as "Other": a chart of thousands of series says nothing."""
    return spend.spend_over_time(engine(), f, group, grain, top=TOP_GROUPS)


@st.cache_data(ttl=READ_TTL, show_spinner="Adding up the cost of each key…")
def key_costs(db: str, f: Filters) -> Any:
    """Tokens and cost per API key (billed per key, or the estimate), largest cost first."""
    return report_key_costs.key_costs(engine(), f)


@st.cache_data(ttl=READ_TTL, show_spinner="Pricing the tokens…")
def price_check(
    db: str, start: date, end: date, organization_id: str | None
) -> list[reconciliation.PricedDay]:
    """Tokens at list price against the bill per day and workspace (Reconciliation page)."""
    return reconciliation.price_check(engine(), start, end, organization_id=organization_id)


def estimated_names() -> list[str]:
    """Organizations whose per-key cost is an estimate. Not cached: a tiny query."""
    return spend.estimated_names(engine())


@st.cache_data(ttl=READ_TTL, show_spinner="Adding up tokens…")
def usage_over_time(db: str, f: Filters, group: str, grain: str) -> Grouped:
    return usage.usage_over_time(engine(), f, group, grain, top=TOP_GROUPS)


@st.cache_data(ttl=READ_TTL, show_spinner=False)
def spend_summary(db: str, today: date, include_demo: bool = False) -> spend.SpendSummary:
    return spend.spend_summary(engine(), today, include_demo=include_demo)


@st.cache_data(ttl=READ_TTL, show_spinner=False)
def spend_total(db: str, f: Filters) -> Decimal | None:
    """Billed USD of the filters (one query, on the rollups where they allow); None when not
    one row is stored for them: the previous period of a comparison."""
    cents = spend.total_or_none(engine(), f)
    return None if cents is None else usd(cents)


@st.cache_data(ttl=READ_TTL, show_spinner=False)
def usage_counts(db: str, f: Filters) -> dict[str, int] | None:
    """Token counts by type of the filters (one query); None when nothing is stored."""
    return usage.usage_counts(engine(), f)


@st.cache_data(ttl=READ_TTL, show_spinner="Working out the unit economics…")
def unit_economics(db: str, f: Filters, show_ids: bool) -> economics.UnitEconomics:
    return economics.unit_economics(engine(), f, show_ids=show_ids)


def clear_caches() -> None:
    """After connect, replace or delete: what is shown must change at once."""
    st.cache_data.clear()


# --- Claude Code and Claude Enterprise pages ----------------------------------------------------


@st.cache_data(ttl=READ_TTL, show_spinner=False)
def claude_code_options(db: str, organizations: tuple[str, ...]) -> dict[str, Any]:
    """Console organizations, the actors stored for the chosen ones, and whether any Claude
    Code record is stored at all."""
    return {
        "organizations": report_options.console_organizations(engine()),
        "actors": report_options.actor_options(engine(), organizations),
        "has_data": claude_code.has_data(engine()),
    }


@st.cache_data(ttl=READ_TTL, show_spinner="Adding up Claude Code activity…")
def claude_code_report(db: str, f: CodeFilters, grain: str) -> claude_code.ClaudeCodeReport:
    return claude_code.claude_code_report(engine(), f, grain)


@st.cache_data(ttl=READ_TTL, show_spinner=False)
def enterprise_organizations(db: str) -> list[tuple[str, str]]:
    return report_options.enterprise_organizations(engine())


@st.cache_data(ttl=READ_TTL, show_spinner="Adding up Claude Enterprise spend and usage…")
def enterprise_report(db: str, f: EnterpriseFilters, grain: str) -> enterprise.EnterpriseReport:
    return enterprise.enterprise_report(engine(), f, grain)
