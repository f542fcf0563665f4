"""Plain helpers for the AppTest page tests: the entrypoint, the admin they sign in as, and ways
to read a run as a person reads the page. (Fixtures are in tests/ui/conftest.py.)"""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.services.users import Account, open_session
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, sync_engine

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
ADMIN_EMAIL, PASSWORD = "admin@example.com", "correct horse battery"


def signed_in(at: AppTest, engine: Engine, account: Account) -> AppTest:
    """What a successful sign-in leaves in the session (the form is tested elsewhere)."""
    at.session_state["auth_token"] = open_session(engine, account, hours=1)
    return at


def texts(at: AppTest) -> str:
    """The run's Markdown, alerts, titles, headers and captions as one text."""
    parts = (
        [m.value for m in at.markdown]
        + [e.value for e in at.error]
        + [w.value for w in at.warning]
        + [s.value for s in at.success]
        + [i.value for i in at.info]
    )
    parts += [t.value for t in at.title] + [c.value for c in at.caption]
    parts += [h.value for h in at.subheader] + [h.value for h in at.header]
    return "\n".join(str(p) for p in parts)


def metrics(at: AppTest) -> dict[str, str]:
    """Each metric tile's value by its label."""
    return {m.label: m.value for m in at.metric}


def csv_rows(data: bytes) -> list[dict[str, str]]:
    """A downloaded CSV's rows by column name."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def synced(sim: Simulator, engine: Engine, settings: Settings) -> list[str]:
    """Connect and sync every organization of ``sim``; their ids."""
    ids = []
    for org in sim.orgs.values():
        connect_org(sim, org, engine=engine, settings=settings)
        assert sync_engine(sim, engine, settings).run(org_pk(engine, org.id)).outcome == "ok"
        ids.append(org.id)
    return ids


def array_values(array: Any) -> list[Any]:
    """A chart figure's array as a list: Plotly sends numbers as base64 typed arrays."""
    if isinstance(array, dict) and "bdata" in array:
        return list(np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]))
    return list(array)
