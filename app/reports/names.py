"""What a person reads for a stored value of a group: directory names for workspaces and API
keys, organizations' labels, providers' names, and the labels of null."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.models import ApiKey, Organization, Provider, Workspace
from app.reports.labels import (
    CONSOLE_KEY,
    DEFAULT_WORKSPACE,
    NO_WORKSPACES,
    NONE_LABEL,
    NONE_LABELS,
    provider_label,
)

Labeler = Callable[[int, Any], str]


def labeler(session: Any, group: str) -> Labeler:
    """A function (org_pk, raw value) -> what a person reads for that group."""
    if group in ("workspace", "api_key"):
        table: Any = Workspace if group == "workspace" else ApiKey
        id_column = table.workspace_id if group == "workspace" else table.api_key_id
        null_name = DEFAULT_WORKSPACE if group == "workspace" else CONSOLE_KEY
        names: dict[tuple[int, str], str] = {
            (pk, item): name
            for pk, item, name in session.execute(
                select(table.organization_pk, id_column, table.name)
            )
        }
        enterprise = set(
            session.execute(
                select(col(Organization.id)).where(
                    col(Organization.provider) == Provider.ENTERPRISE
                )
            ).scalars()
        )

        # Unknown ids (not in the directory) show as themselves rather than vanish; null is the
        # default workspace (the Console's key), which Enterprise organizations do not have.
        def label(org_pk: int, value: str | None) -> str:
            if value is None:
                return NO_WORKSPACES if org_pk in enterprise else null_name
            return names.get((org_pk, value), value)

        return label
    if group == "provider":
        return lambda _pk, value: provider_label(value)
    if group == "organization":
        by_id = dict(organization_names(session))
        return lambda _pk, value: by_id.get(value, str(value))
    none = NONE_LABELS.get(group, NONE_LABEL)
    return lambda _pk, value: none if value is None else str(value)


def organization_names(session: Any, provider: str | None = None) -> list[tuple[str, str]]:
    """(organization id, the name shown: its label, else Anthropic's name), by name; of one
    provider's organizations only, if given."""
    query = select(
        col(Organization.organization_id), col(Organization.label), col(Organization.name)
    ).order_by(col(Organization.name))
    if provider is not None:
        query = query.where(col(Organization.provider) == provider)
    return [(org_id, label or name) for org_id, label, name in session.execute(query)]
