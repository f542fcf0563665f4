"""Workspace and API key names (the directory), upserted as the Admin API lists them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from app.clock import parse_rfc3339
from app.models import ApiKey, Workspace


def store_directory(
    session: Session, org_pk: int, workspaces: list[dict[str, Any]], api_keys: list[dict[str, Any]]
) -> None:
    """Add or rename the listed workspaces and API keys (those not listed are left alone)."""
    known_ws = {
        w.workspace_id: w
        for w in session.execute(
            select(Workspace).where(col(Workspace.organization_pk) == org_pk)
        ).scalars()
    }
    for item in workspaces:
        ws_id = str(item.get("id") or "")
        if not ws_id:
            continue
        name = str(item.get("name") or ws_id)
        workspace = known_ws.get(ws_id) or Workspace(
            organization_pk=org_pk, workspace_id=ws_id, name=name
        )
        workspace.name = name
        workspace.archived_at = _parse_time(item.get("archived_at"))
        known_ws[ws_id] = workspace
        session.add(workspace)
    known_keys = {
        k.api_key_id: k
        for k in session.execute(
            select(ApiKey).where(col(ApiKey.organization_pk) == org_pk)
        ).scalars()
    }
    for item in api_keys:
        key_id = str(item.get("id") or "")
        if not key_id:
            continue
        name = str(item.get("name") or key_id)
        api_key = known_keys.get(key_id) or ApiKey(
            organization_pk=org_pk, api_key_id=key_id, name=name
        )
        api_key.name = name
        api_key.workspace_id = key_workspace(item, known_ws)
        api_key.status = item.get("status")
        known_keys[key_id] = api_key
        session.add(api_key)


def key_workspace(item: dict[str, Any], listed: dict[str, Any]) -> str | None:
    """The workspace of an API key as the reports name it (null for the Default workspace).

    Read from ``scope`` first (reference §14.6): ``{"type": "workspace", "workspace_id": ...}``
    names the workspace by its real id even when it is the Default workspace, which the
    workspace list never shows and reports call null; ``{"type": "organization"}`` (or any
    other type) is a principal-bound key without a workspace. Without a usable ``scope``, the
    deprecated top-level ``workspace_id``."""
    scope = item.get("scope")
    if isinstance(scope, dict) and isinstance(scope.get("type"), str):
        if scope["type"] != "workspace":
            return None
        ws_id = scope.get("workspace_id")
        if not isinstance(ws_id, str) or not ws_id:
            return None
        if ws_id in listed:
            return ws_id
        # Not a listed workspace: the Default one, unless the old field names it otherwise.
        legacy = item.get("workspace_id")
        return legacy if isinstance(legacy, str) and legacy in listed else None
    legacy = item.get("workspace_id")
    return legacy if isinstance(legacy, str) and legacy else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None
