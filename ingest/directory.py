"""The directory sync: workspace and API key names, refreshed every run (renames show up)."""

from __future__ import annotations

from sqlalchemy import Engine

from app.anthropic.admin import AdminClient
from app.db import write_session
from app.store import store_directory


def refresh_directory(engine: Engine, client: AdminClient, org_pk: int) -> None:
    """Fetch the organization's workspaces and API keys, then store them in one transaction."""
    workspaces = list(client.iter_workspaces())
    api_keys = list(client.iter_api_keys())
    with write_session(engine) as session:
        store_directory(session, org_pk, workspaces, api_keys)
