"""The simulator's one entry point for the product: the demo organizations and their keys.

"Explore with demo data" connects these keys and reads them through ``demo_simulator``'s
transport, in-process. Product code imports this module and nothing else of the simulator
(ruff's banned-import rule in pyproject.toml enforces it), so the fake API can change freely.
"""

from __future__ import annotations

from datetime import date

from app.simulator import Simulator

# 93 characters between prefix and "AA", like a real key, but unmistakably a demo.
DEMO_ADMIN_KEY = "sk-ant-admin01-demo-key-of-the-simulated-organization-" + "0" * 54 + "AA"
DEMO_ORG_NAME = "Demo Org (simulated)"
DEMO_ORG_SEED = 424242
DEMO_ANALYTICS_KEY = "sk-ant-api01-demo-key-of-the-simulated-enterprise-" + "0" * 58 + "AA"
DEMO_ENTERPRISE_NAME = "Demo Enterprise (simulated)"
DEMO_ENTERPRISE_SEED = 515151


def demo_simulator(today: date | None = None) -> Simulator:
    """The demo organization's simulator: the same data on every call for a given day."""
    sim = Simulator(today=today, history_days=400, seed=2026)
    sim.add_org(name=DEMO_ORG_NAME, seed=DEMO_ORG_SEED, admin_key=DEMO_ADMIN_KEY)
    sim.add_enterprise_org(
        name=DEMO_ENTERPRISE_NAME, seed=DEMO_ENTERPRISE_SEED, key=DEMO_ANALYTICS_KEY
    )
    sim.analytics_rpm = None  # in-process: nothing to protect, and the demo should be quick
    return sim


__all__ = [
    "DEMO_ADMIN_KEY",
    "DEMO_ANALYTICS_KEY",
    "DEMO_ENTERPRISE_NAME",
    "DEMO_ORG_NAME",
    "demo_simulator",
]
