"""What a person reads for the stored values of a group: directory names for workspaces and API
keys, organizations' labels, providers' names, friendly model names, and the labels of null by
why they are empty.

A workspace and an API key are known by their organization and id, never by their name alone:
``Namer.labels`` names a whole set of them at once and never gives two of them one label. Where
more than one organization is in view, each name carries its organization's ("Production · Acme
Corp"); two of one name in one organization carry the end of their id ("prod-backend (…hiGd)").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.models import ApiKey, Organization, Provider, Workspace
from app.reports.demo import DemoMix, demo_mix_of, demo_name
from app.reports.labels import (
    ESTIMATE_SUFFIX,
    ESTIMATED_TOKEN_TYPES,
    ID_TAIL,
    MODEL_IDS,
    ORG_SEPARATOR,
    null_label,
    value_label,
)

# (organization pk, stored value, cost type of a null value's cost row or None): what one
# group of a chart is, before it is named.
Key = tuple[int, Any, str | None]
# The groups whose values belong to one organization: named by the directory, never merged.
IDENTIFIED = frozenset({"workspace", "api_key"})


@dataclass
class Namer:
    """Names the values of one group (``labels``); built once per read by ``namer``."""

    group: str
    enterprise: frozenset[int]
    organization_ids: dict[int, str]  # pk -> Anthropic's organization id
    organization_names: dict[int, str]  # pk -> the name shown ("(demo)" beside a real one)
    directory: dict[tuple[int, str], str] = field(default_factory=dict)
    # Organizations whose per-key cost a chart shows is an estimate (``Source.estimated``):
    # their keys and actors say so.
    estimated: frozenset[int] = frozenset()

    def labels(self, keys: Collection[Key]) -> dict[Key, str]:
        """Every key's label. Workspaces, API keys and organizations: one label per key;
        other groups: one label per value (an alias and its dated model id read the same,
        and are one group)."""
        if self.group in IDENTIFIED:
            names = self._identified(keys)
        elif self.group == "organization":
            by_id = {oid: pk for pk, oid in self.organization_ids.items()}
            names = {k: self.organization_names.get(by_id.get(k[1], -1), str(k[1])) for k in keys}
            return _unique(names, lambda k: str(k[1]))
        else:
            names = {k: self._estimated_label(k) or self.label(*k) for k in keys}
        if not self.estimated:
            return names
        return {
            k: f"{name}{ESTIMATE_SUFFIX}" if k[0] in self.estimated else name
            for k, name in names.items()
        }

    def _estimated_label(self, key: Key) -> str | None:
        """An estimate's token cost has no token type (it splits a cost row, which holds
        none): "All token types", not "(no token type reported)"."""
        pk, value, cost_type = key
        if self.group != "token_type" or value is not None or pk not in self.estimated:
            return None
        return ESTIMATED_TOKEN_TYPES if cost_type in (None, "tokens") else None

    def label(self, org_pk: int, value: Any, cost_type: str | None = None) -> str:
        """The label of one value of a group that is not identified by its organization."""
        enterprise = org_pk in self.enterprise
        if value is None:
            return null_label(self.group, enterprise=enterprise, cost_type=cost_type)
        if self.group == MODEL_IDS:
            return str(value)
        return value_label(self.group, value, enterprise=enterprise, cost_type=cost_type)

    def _identified(self, keys: Collection[Key]) -> dict[Key, str]:
        names: dict[Key, str] = {}
        for key in keys:
            pk, value, _ = key
            if value is None:
                names[key] = null_label(self.group, enterprise=pk in self.enterprise)
            else:
                # Ids the directory does not know show as themselves rather than vanish.
                names[key] = self.directory.get((pk, value), str(value))
        # Two of one name in one organization: the end of the id tells them apart.
        names = _unique(names, lambda k: f"…{k[1][-ID_TAIL:]}" if k[1] else "", scope=_org)
        if len({k[0] for k in keys}) > 1:
            names = {
                k: f"{name}{ORG_SEPARATOR}{self.organization_names.get(k[0], k[0])}"
                for k, name in names.items()
            }
        # What still reads the same (two organizations of one name): their ids apart.
        return _unique(
            names, lambda k: f"{self.organization_ids.get(k[0], k[0])}{ORG_SEPARATOR}{k[1] or ''}"
        )


def _org(key: Key) -> Any:
    return key[0]


def _unique(names: dict[Key, str], tell: Any, scope: Any = lambda _k: None) -> dict[Key, str]:
    """``names`` with " (<tell(key)>)" added to each name that more than one key in the same
    ``scope`` has."""
    holders: defaultdict[tuple[Any, str], list[Key]] = defaultdict(list)
    for key, name in names.items():
        holders[(scope(key), name)].append(key)
    out = dict(names)
    for (_, name), keys in holders.items():
        if len(keys) > 1:
            for key in keys:
                told = tell(key)
                out[key] = f"{name} ({told})" if told else name
    return out


def namer(session: Any, group: str) -> Namer:
    """A ``Namer`` for ``group``, with what it needs from the directory and organizations."""
    orgs = session.execute(
        select(
            col(Organization.id),
            col(Organization.organization_id),
            col(Organization.label),
            col(Organization.name),
            col(Organization.provider),
            col(Organization.is_demo),
        )
    ).all()
    # A demo organization is marked "(demo)" beside a real one, as everywhere it is named: as a
    # group of its own and after its workspaces' names ("Production · Demo Org (demo)").
    demo = sum(1 for *_, is_demo in orgs if is_demo)
    mix = DemoMix(demo=demo, real=len(orgs) - demo)
    built = Namer(
        group=group,
        enterprise=frozenset(pk for pk, *_, provider, _ in orgs if provider == Provider.ENTERPRISE),
        organization_ids={pk: oid for pk, oid, *_ in orgs},
        organization_names={
            pk: demo_name(label or name, is_demo, mix) for pk, _, label, name, _, is_demo in orgs
        },
    )
    if group in IDENTIFIED:
        table: Any = Workspace if group == "workspace" else ApiKey
        id_column = table.workspace_id if group == "workspace" else table.api_key_id
        built.directory = {
            (pk, item): name
            for pk, item, name in session.execute(
                select(table.organization_pk, id_column, table.name)
            )
        }
    return built


def organization_names(session: Any, provider: str | None = None) -> list[tuple[str, str]]:
    """(organization id, the name shown: its label, else Anthropic's name, marked as demo
    beside a real organization), by name; of one provider's organizations only, if given."""
    query = select(
        col(Organization.organization_id),
        col(Organization.label),
        col(Organization.name),
        col(Organization.is_demo),
    ).order_by(col(Organization.name))
    if provider is not None:
        query = query.where(col(Organization.provider) == provider)
    mix = demo_mix_of(session)
    return [
        (org_id, demo_name(label or name, is_demo, mix))
        for org_id, label, name, is_demo in session.execute(query)
    ]
