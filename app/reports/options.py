"""The choices of the filter widgets, from the values the sync recorded (``dimension_value``,
the directory and the organizations: a few hundred rows, not a scan of the data tables)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine, select
from sqlmodel import col

from app.db import read_session
from app.models import ClaudeCodeDay, DimensionValue, Organization, Provider
from app.reports.filters import values_in
from app.reports.labels import (
    CONSOLE_KEY,
    actor_label,
    cost_type_label,
    null_label,
    provider_label,
    service_tier_label,
)
from app.reports.model_names import model_key, model_name
from app.reports.names import Namer, namer, organization_names


def filter_options(engine: Engine) -> dict[str, list[tuple[str, str]]]:
    """(value, label) choices for the Spend and Usage filter widgets, labelled as the charts
    label them. ``models`` holds one choice per stored model id ("Show model ids"),
    ``model_names`` one per model (its ``model_key``: an alias and its dated ids are one), and
    ``model_families`` (id, model key) pairs, which ``model_ids_of`` turns models into ids;
    ``workspace_organizations`` (workspace id, organization id) pairs; ``default_workspaces``
    the choices of one organization's default workspace, with several organizations."""
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
            )
        ):
            values.setdefault(kind, set()).add((pk, value))
        workspace_names = namer(session, "workspace")
        key_names = namer(session, "api_key")
        actor_names = namer(session, "actor")

    workspaces = workspace_options(workspace_names, values.get("workspace", set()))

    def named(kind: str, label: Callable[[str], str]) -> list[tuple[str, str]]:
        return sorted(
            {(v, label(v)) for _, v in values.get(kind, ()) if v}, key=lambda t: t[1].lower()
        )

    model_ids = sorted({v for _, v in values.get("model", ()) if v})
    return {
        "providers": providers,
        "organizations": orgs,
        **workspaces,
        "models": [(m, m) for m in model_ids],
        "model_names": sorted(
            {(model_key(m), model_name(m)) for m in model_ids}, key=lambda t: t[1].lower()
        ),
        "model_families": [(m, model_key(m)) for m in model_ids],
        "service_tiers": named("service_tier", service_tier_label),
        "cost_types": named("cost_type", cost_type_label),
        "api_keys": key_options(key_names, values.get("api_key", set())),
        # As Spend and Usage by actor name them; "" is spend and usage without one.
        "actors": sorted(
            {(v, actor_names.label(pk, v or None)) for pk, v in values.get("actor", ())},
            key=lambda t: (t[0] != "", t[1].lower()),
        ),
    }


def key_options(key_names: Namer, found: set[tuple[int, str]]) -> list[tuple[str, str]]:
    """The API keys filter's choices from the (organization pk, key id) pairs stored ("" the
    keyless Console / Workbench use, one choice for every organization), labelled as the
    charts label keys, by label."""
    labels = key_names.labels([(pk, key or None, None) for pk, key in found])
    choices = {(key or "", label) for (_, key, _), label in labels.items() if key is not None}
    if any(not key for _, key in found):
        choices.add(("", CONSOLE_KEY))
    return sorted(choices, key=lambda t: (t[0] != "", t[1].lower()))


def workspace_options(
    workspace_names: Namer, found: set[tuple[int, str]]
) -> dict[str, list[tuple[str, str]]]:
    """The Workspaces filter's choices from the (organization pk, workspace id) pairs stored
    ("" the null workspace): ``workspaces``, ``workspace_organizations`` (workspace id,
    organization id) and ``default_workspaces`` (see ``filter_options``)."""
    # As the charts name them, one label per workspace; "" is the null workspace in
    # dimension_value, one choice for every organization's default workspace.
    labels = workspace_names.labels([(pk, ws or None, None) for pk, ws in found])
    nulls = sorted(pk for pk, ws in found if not ws)
    by_id = {(ws, label) for (_, ws, _), label in labels.items() if ws is not None}
    workspaces = sorted(
        by_id
        | (
            null_workspace_option(workspace_names, nulls)
            if len(nulls) != 1
            # One organization's default workspace: named as the charts name it.
            else {("", labels[(nulls[0], None, None)])}
        ),
        key=lambda t: t[1].lower(),
    )
    # With several, each organization's own too ("Default workspace · Acme Corp"): the
    # Workspaces filter offers them beside the ids (``split_workspaces`` tells them apart).
    ids = {ws for ws, _ in by_id}
    own_defaults = [
        (default_workspace_value(workspace_names.organization_ids.get(pk, "")), pk)
        for pk in (nulls if len(nulls) > 1 else [])
    ]
    default_workspaces = sorted(
        ((value, labels[(pk, None, None)]) for value, pk in own_defaults if value not in ids),
        key=lambda t: t[1].lower(),
    )

    # Each workspace's organization: a click on a workspace a chart names without it (one
    # organization in view) picks that organization's, never another's of the same name.
    workspace_organizations = sorted(
        {(ws, workspace_names.organization_ids.get(pk, str(pk))) for pk, ws in found if ws}
    )

    return {
        "workspaces": workspaces,
        "workspace_organizations": workspace_organizations
        + [(value, value.removeprefix(DEFAULT_OF)) for value, _ in default_workspaces],
        "default_workspaces": default_workspaces,
    }


def null_workspace_option(names: Namer, organizations: list[int]) -> set[tuple[str, str]]:
    """The one choice of the null workspace (""): the Default workspace of every organization
    that has one (a Claude Enterprise organization's spend has no workspace)."""
    if not organizations:
        return set()
    # The Console's default workspace first, then Claude Enterprise's lack of one.
    kinds = sorted({pk in names.enterprise for pk in organizations})
    label = " / ".join(null_label("workspace", enterprise=e) for e in kinds)
    return {("", f"{label} (every organization)" if len(organizations) > 1 else label)}


# The Workspaces filter's value of one organization's default (null) workspace: its
# organization id after this (not offered should a stored workspace id read the same).
DEFAULT_OF = "default:"


def default_workspace_value(organization_id: str) -> str:
    return DEFAULT_OF + organization_id


def split_workspaces(
    options: dict[str, list[tuple[str, str]]], values: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The chosen Workspaces values as ``Filters`` holds them: workspace ids ("" every
    organization's default workspace), and the organizations whose own default workspace is
    chosen (``default_workspaces`` choices)."""
    defaults = {v for v, _ in options.get("default_workspaces", [])}
    ids = tuple(v for v in values if v not in defaults)
    return ids, tuple(v.removeprefix(DEFAULT_OF) for v in values if v in defaults)


def model_ids_of(options: dict[str, list[tuple[str, str]]], models: Sequence[str]) -> list[str]:
    """Every stored id of the chosen models (``filter_options``'s ``model_names`` values)."""
    chosen = set(models)
    return [m for m, key in options.get("model_families", []) if key in chosen]


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
