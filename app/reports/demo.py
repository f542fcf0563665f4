"""Demo organizations beside real ones: whether both kinds are connected, and the mark that
tells a demo organization's name apart wherever it is shown.

With only demo organizations everything shows as it always did (the demo is the whole point
then); once a real one is connected, demo data is marked, left out of totals by default
(``Filters.include_demo``, decided in SQL by ``filters.demo_left_out``) and removable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.db import read_session
from app.models import Organization

DEMO_MARK = " (demo)"


@dataclass(frozen=True)
class DemoMix:
    """How many demo and real (non-demo) organizations are connected."""

    demo: int
    real: int

    @property
    def mixed(self) -> bool:
        """Both kinds: demo data is marked and left out of totals unless asked for."""
        return bool(self.demo and self.real)


def demo_mix_of(session: Any) -> DemoMix:
    """``demo_mix`` in the caller's session (a labeler or an options query)."""
    counts = dict(
        session.execute(
            select(col(Organization.is_demo), func.count()).group_by(col(Organization.is_demo))
        ).all()
    )
    return DemoMix(demo=int(counts.get(True, 0)), real=int(counts.get(False, 0)))


def demo_mix(engine: Engine) -> DemoMix:
    """Demo and real organizations connected (one tiny query; live, not cached)."""
    with read_session(engine) as session:
        return demo_mix_of(session)


def demo_name(name: str, is_demo: bool, mix: DemoMix) -> str:
    """The name as shown: "Demo Org (simulated) (demo)" once a real organization is connected
    beside it, else unchanged."""
    return name + DEMO_MARK if is_demo and mix.mixed else name
