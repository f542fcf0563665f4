"""The choices of the filter widgets, from the values the sync recorded (``dimension_value``,
the directory and the organizations: a few hundred rows, not a scan of the data tables)."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlmodel import col

from app.db import read_session
from app.models import ClaudeCodeDay, DimensionValue, Organization, Provider, Workspace
from app.reports.filters import values_in
from app.reports.labels import DEFAULT_WORKSPACE, NO_WORKSPACES, actor_label
from app.services.organizations import organizations_of


def filter_options(engine: Engine) -> dict[str, list[tuple[str, str]]]:
    """(value, label) choices for the Spend and Usage filter widgets."""
    with read_session(engine) as session:
        orgs = [
            (org_id, label or name)
            for org_id, label, name in session.execute(
                select(
                    col(Organization.organization_id),
                    col(Organization.label),
                    col(Organization.name),
                ).order_by(col(Organization.name))
            )
        ]
        providers = sorted(
            (p, Provider.label(p))
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
        ws_names: dict[tuple[int, str], str] = {
            (pk, ws): name
            for pk, ws, name in session.execute(
                select(
                    col(Workspace.organization_pk), col(Workspace.workspace_id), col(Workspace.name)
                )
            )
        }
        enterprise = set(
            session.execute(
                select(col(Organization.id)).where(
                    col(Organization.provider) == Provider.ENTERPRISE
                )
            ).scalars()
        )

    def workspace_label(pk: int, ws: str) -> str:
        if ws:
            return ws_names.get((pk, ws), ws)
        return NO_WORKSPACES if pk in enterprise else DEFAULT_WORKSPACE

    workspaces = sorted(
        {(ws, workspace_label(pk, ws)) for pk, ws in values.get("workspace", ())},
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
    return organizations_of(engine, Provider.CONSOLE)


def enterprise_organizations(engine: Engine) -> list[tuple[str, str]]:
    """The Claude Enterprise page's organization choices."""
    return organizations_of(engine, Provider.ENTERPRISE)


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
