"""The process wiring the Connect and Organizations pages need: the key store, and how a key is
tested. Pages take them from here (ruff bans app.runtime in pages/); nothing here holds a key."""

from __future__ import annotations

from app import runtime
from app.keystore import KeyStore
from app.services.connections import KeyProbe
from app.ui import state


def keystore() -> KeyStore:
    return runtime.keystore(state.settings())


def key_probe() -> KeyProbe:
    """Tests a pasted key against the API of its connection type (the demo served in-process)."""
    return runtime.key_probe(state.settings())
