"""The choices of the filter widgets, from the values the sync recorded (``dimension_value``,
the directory and the organizations: a few hundred rows, not a scan of the data tables)."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlmodel import col

from app.db import read_session
from app.models import ClaudeCodeDay, DimensionValue, Organization, Provider
from app.reports.filters import values_in
from app.reports.labels import actor_label, provider_label
from app.reports.names import labeler, organization_names


def filter_options(engine: Engine) -> dict[str, list[tuple[str, str]]]:
    """(value, label) choices for the Spend and Usage filter widgets."""
    with read_session(engine) as session:
        orgs = organization_names(session)
        providers = sorted(
            (p, provider_label(p))
            for p in session.execute(select(col(Organization.provider)).distinct()).scalars()
        )
        values: dict[str, set[tuple[int, str]]] = {}
        for pk, kind, value in session.execute(
            select(
                col(DimensionValue.organization_pk),
                col(DimensionValue.kind),
                col(DimensionValue.value),
            ).where(
                col(DimensionValue.kind) != "api_key"
            )  # keys are listed for ranking, not filters
        ):
            values.setdefault(kind, set()).add((pk, value))
        # As the charts name them; "" is the null workspace in dimension_value.
        workspace_label = labeler(session, "workspace")

    workspaces = sorted(
        {(ws, workspace_label(pk, ws or None)) for pk, ws in values.get("workspace", ())},
        key=lambda t: t[1].lower(),
    )

    def named(kind: str) -> list[tuple[str, str]]:
        return sorted({(v, v) for _, v in values.get(kind, ()) if v})

    return {
        "providers": providers,
        "organizations": orgs,
        "workspaces": workspaces,
        "models": named("model"),
        "service_tiers": named("service_tier"),
        "cost_types": named("cost_type"),
    }


def console_organizations(engine: Engine) -> list[tuple[str, str]]:
    """The Claude Code page's organization choices: the Console organizations."""
    with read_session(engine) as session:
        return organization_names(session, Provider.CONSOLE)


def enterprise_organizations(engine: Engine) -> list[tuple[str, str]]:
    """The Claude Enterprise page's organization choices."""
    with read_session(engine) as session:
        return organization_names(session, Provider.ENTERPRISE)


def actor_options(engine: Engine, organizations: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(value, label) of every Claude Code actor stored for these organizations, by label."""
    query = (
        select(col(ClaudeCodeDay.actor))
        .join(Organization, col(Organization.id) == col(ClaudeCodeDay.organization_pk))
        .distinct()
    )
    clause = values_in(col(Organization.organization_id), organizations)
    if clause is not None:
        query = query.where(clause)
    with read_session(engine) as session:
        values = session.execute(query).scalars().all()
    return sorted(
        (("" if v is None else v, actor_label(v)) for v in values), key=lambda t: t[1].lower()
    )
