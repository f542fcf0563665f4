"""The Admin API's directory routes: the organization, its workspaces, API keys, users and
invites, as single objects or ``after_id``/``before_id`` pages."""

from __future__ import annotations

import re
from typing import Any

from app.simulator.common import BASE, NOT_FOUND, ApiError, Params
from app.simulator.common import one as _one
from app.simulator.world import SimApiKey, SimOrg, SimWorkspace, _fmt


def me(org: SimOrg, *_: Any) -> Any:
    return {"id": org.id, "type": "organization", "name": org.name}


def workspaces(org: SimOrg, path: str, params: Params, _r: Any, fault: Any) -> Any:
    items = [_workspace_json(w) for w in org.workspaces]
    if item_id := _item_id(path, "workspaces"):
        return _get(items, item_id)
    if _one(params, "include_archived", "false").lower() not in ("1", "true"):
        items = [i for i in items if i["archived_at"] is None]
    return _list(items, params, fault)


def api_keys(
    org: SimOrg, path: str, params: Params, _r: Any, fault: Any, *, legacy: bool = True
) -> Any:
    """API keys with their ``scope`` object and, while ``legacy``, the deprecated top-level
    ``workspace_id`` too (reference §14.6)."""
    items = [_key_json(org, k, legacy) for k in org.api_keys]
    if item_id := _item_id(path, "api_keys"):
        return _get(items, item_id)
    for name in ("status", "workspace_id", "created_by_user_id"):
        wanted = _one(params, name, "")
        field = "created_by" if name == "created_by_user_id" else name
        if wanted:
            items = [i for i in items if _plain(_field(i, field)) == wanted]
    return _list(items, params, fault)


def users(org: SimOrg, path: str, params: Params, _r: Any, fault: Any) -> Any:
    if item_id := _item_id(path, "users"):
        return _get(org.users, item_id)
    items = list(org.users)
    if email := _one(params, "email", ""):
        items = [u for u in items if u["email"] == email]
    return _list(items, params, fault)


def invites(org: SimOrg, path: str, params: Params, _r: Any, fault: Any) -> Any:
    if _item_id(path, "invites"):
        raise ApiError(404, NOT_FOUND)
    return _list([], params, fault)


# --- directory objects ---------------------------------------------------------------------------


def _workspace_json(ws: SimWorkspace) -> dict[str, Any]:
    return {
        "id": ws.id,
        "type": "workspace",
        "name": ws.name,
        "created_at": _fmt(ws.created_at),
        "archived_at": _fmt(ws.archived_at) if ws.archived_at else None,
        "display_color": "#6C5BB9",
        "data_residency": {
            "workspace_geo": "us",
            "default_inference_geo": "global",
            "allowed_inference_geos": "unrestricted",
        },
        "external_key_id": None,
        "tags": {},
    }


def _key_json(org: SimOrg, key: SimApiKey, legacy: bool) -> dict[str, Any]:
    # The scope names the Default workspace by its real id; the old field says null for it.
    scope = {"type": "workspace", "workspace_id": key.workspace_id or org.default_workspace_id}
    principal = (
        None if key.principal is None else {"id": key.principal[1], "type": key.principal[0]}
    )
    item: dict[str, Any] = {
        "id": key.id,
        "type": "api_key",
        "name": key.name,
        "created_at": _fmt(key.created_at),
        "created_by": {"id": key.created_by, "type": "user"},
        "expires_at": None,
        "partial_key_hint": key.hint,
        "principal": principal,
        "scope": scope,
        "status": key.status,
    }
    if legacy:
        item["workspace_id"] = key.workspace_id
    return item


def _field(item: dict[str, Any], name: str) -> Any:
    """A key's field as a filter reads it (``workspace_id`` from its scope, Default = null)."""
    if name == "workspace_id":
        return item.get("workspace_id", _scope_workspace(item))
    return item[name]


def _scope_workspace(item: dict[str, Any]) -> Any:
    scope = item.get("scope") or {}
    return scope.get("workspace_id")


def _plain(value: Any) -> Any:
    return value["id"] if isinstance(value, dict) else value


def _item_id(path: str, collection: str) -> str | None:
    rest = path[len(f"{BASE}/{collection}") :]
    return rest[1:] if rest.startswith("/") else None


def _get(items: list[dict[str, Any]], item_id: str | None) -> dict[str, Any]:
    for item in items:
        if item["id"] == item_id:
            return item
    raise ApiError(404, NOT_FOUND)


def _list(items: list[dict[str, Any]], params: Params, fault: str | None) -> dict[str, Any]:
    """``after_id``/``before_id``/``limit`` paging over items sorted by creation time."""
    items = sorted(items, key=lambda i: (i.get("created_at") or i.get("added_at") or "", i["id"]))
    limit_text = _one(params, "limit", "20")
    if not re.fullmatch(r"-?\d+", limit_text.strip()):
        raise ApiError(400, "limit: Input should be a valid integer")
    limit = int(limit_text)
    if not 1 <= limit <= 1000:
        raise ApiError(400, "limit: Input should be between 1 and 1000")
    ids = [i["id"] for i in items]
    after, before = _one(params, "after_id", ""), _one(params, "before_id", "")
    if after and before:
        raise ApiError(400, "Cannot specify both after_id and before_id.")
    if after or before:
        anchor = after or before
        if anchor not in ids:
            raise ApiError(400, f"{'after_id' if after else 'before_id'}: unknown id")
        position = ids.index(anchor)
        remaining = items[position + 1 :] if after else items[:position]
        page = remaining[:limit] if after else remaining[-limit:]
    else:
        remaining = items
        page = items[:limit]
    body: dict[str, Any] = {
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(remaining) > limit,
    }
    if fault == "missing_cursor":
        body.update(has_more=True, last_id=None)
    elif fault == "repeat_cursor":
        # The cursor passed in (or, on the first page, this page's own) comes back again.
        body.update(has_more=True, last_id=after or body["last_id"])
    return body
