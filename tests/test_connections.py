"""One way to test and replace a key, for both connection types: what the Connect wizard, the
Organizations page's "Replace key" and `finops connect` call (app/services/connections.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from app.anthropic.errors import KeyRejected
from app.anthropic.keys import KeyFormatError
from app.anthropic.schemas import OrganizationInfo
from app.db import read_session
from app.keystore import KeyStore
from app.models import AuditEvent, Organization, Provider
from app.runtime import key_probe
from app.services import connections
from app.services.access import OPERATOR, Actor, PermissionDenied
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_enterprise, connect_org

NEW_ADMIN_KEY = "sk-ant-admin01-" + "N3w" * 30
NEW_ANALYTICS_KEY = "sk-ant-api01-" + "N3w" * 30
VIEWER = Actor("viewer@example.com", "viewer")


@pytest.fixture
def esim(sim: Simulator) -> Simulator:
    sim.add_enterprise_org(name="Globex Enterprise", seed=41)
    sim.analytics_rpm = None
    return sim


def stored(engine: Engine, organization_id: str) -> Organization:
    with read_session(engine) as session:
        return session.execute(
            select(Organization).where(Organization.organization_id == organization_id)
        ).scalar_one()


def actions(engine: Engine) -> list[str]:
    with read_session(engine) as session:
        return list(session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def replace(
    key: str, org: Organization, sim: Simulator, engine: Engine, settings: Settings
) -> connections.Connection:
    return connections.replace_key(
        key,
        organization_id=org.organization_id,
        name=org.display_name,
        provider=org.provider,
        probe=key_probe(settings, transport=sim.transport()),
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        actor=OPERATOR,
    )


def test_a_console_key_is_tested_by_the_organization_it_opens(
    sim: Simulator, settings: Settings
) -> None:
    org = next(iter(sim.orgs.values()))
    probe = key_probe(settings, transport=sim.transport())
    info = connections.test_key(Provider.CONSOLE, f"  {org.admin_key}\n", probe=probe, label="x")
    assert info == OrganizationInfo(org.id, org.name)  # a Console label is not its name


def test_an_enterprise_key_is_named_by_its_label_and_identified_by_a_digest(
    esim: Simulator, settings: Settings
) -> None:
    ent = next(iter(esim.enterprise_orgs.values()))
    probe = key_probe(settings, transport=esim.transport())
    named = connections.test_key(Provider.ENTERPRISE, ent.key, probe=probe, label=" Globex AI ")
    unnamed = connections.test_key(Provider.ENTERPRISE, ent.key, probe=probe)
    assert named.id == unnamed.id == connections.enterprise_organization_id(ent.key)
    assert ent.key[13:] not in named.id  # the digest, never the key
    assert (named.name, unnamed.name) == ("Globex AI", connections.ENTERPRISE_DEFAULT_NAME)
    assert any(r.path.startswith("/v1/organizations/analytics") for r in esim.requests)


@pytest.mark.parametrize(
    ("provider", "wrong"),
    [
        (Provider.CONSOLE, "sk-ant-api01-" + "E" * 40),
        (Provider.ENTERPRISE, "sk-ant-admin01-" + "A" * 40),
        (Provider.CONSOLE, "sk-ant-admin01-short"),
    ],
)
def test_a_key_of_the_wrong_kind_is_refused_before_any_call(provider: str, wrong: str) -> None:
    def probe(provider: str, key: str, *, demo: bool) -> OrganizationInfo | None:
        raise AssertionError("the API was called with a key of the wrong kind")

    with pytest.raises(KeyFormatError):
        connections.test_key(provider, wrong, probe=probe)


def test_replacing_a_console_key_stores_the_new_key_and_keeps_the_label(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings, label="Production")
    before = stored(engine, org.id)
    org.admin_key = NEW_ADMIN_KEY  # rotated in the Console
    result = replace(NEW_ADMIN_KEY, before, sim, engine, settings)
    after = stored(engine, org.id)
    assert result.replaced and result.key_hint == after.key_hint
    assert result.key_note is None  # an Admin key needs no word on what it is
    assert after.key_hint.endswith(NEW_ADMIN_KEY[-4:]) and after.key_hint != before.key_hint
    assert KeyStore.from_settings(settings).decrypt(after.key_ciphertext) == NEW_ADMIN_KEY
    assert (after.label, after.name, after.id) == ("Production", org.name, before.id)
    assert actions(engine) == ["organization_connected", "key_replaced"]


def test_a_console_key_of_another_organization_replaces_nothing(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    acme, globex = sim.orgs.values()
    connect_org(sim, acme, engine=engine, settings=settings)
    before = stored(engine, acme.id)
    with pytest.raises(connections.KeyOfAnotherOrganization) as refused:
        replace(globex.admin_key, before, sim, engine, settings)
    assert refused.value.opened == OrganizationInfo(globex.id, globex.name)
    assert globex.admin_key[15:] not in str(refused.value)
    after = stored(engine, acme.id)
    assert after.key_ciphertext == before.key_ciphertext
    # Nothing replaced; the refusal itself is in the audit log.
    assert actions(engine) == ["organization_connected", "key_replacement_failed"]
    with read_session(engine) as session:
        assert len(session.execute(select(Organization)).all()) == 1


def test_replacing_an_enterprise_key_keeps_its_id_and_name(
    esim: Simulator, engine: Engine, settings: Settings
) -> None:
    ent = next(iter(esim.enterprise_orgs.values()))
    conn = connect_enterprise(esim, ent.key, engine=engine, settings=settings, name="Globex AI")
    before = stored(engine, conn.organization_id)
    ent.key = NEW_ANALYTICS_KEY  # a new key: its digest differs, the admin is trusted
    result = replace(NEW_ANALYTICS_KEY, before, esim, engine, settings)
    after = stored(engine, conn.organization_id)
    assert (result.organization_id, result.name, result.provider) == (
        conn.organization_id,
        "Globex AI",
        "Anthropic (Analytics API)",
    )
    assert KeyStore.from_settings(settings).decrypt(after.key_ciphertext) == NEW_ANALYTICS_KEY
    assert (after.name, after.label, after.provider) == ("Globex AI", None, Provider.ENTERPRISE)


def test_a_rejected_or_wrong_kind_of_new_key_replaces_nothing(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    before = stored(engine, org.id)
    with pytest.raises(KeyRejected):
        replace("sk-ant-admin01-" + "Z" * 60, before, sim, engine, settings)
    with pytest.raises(KeyFormatError, match="Claude Enterprise"):
        replace("sk-ant-api01-" + "Z" * 60, before, sim, engine, settings)
    assert stored(engine, org.id).key_ciphertext == before.key_ciphertext
    assert actions(engine) == ["organization_connected"] + ["key_replacement_failed"] * 2


def test_only_an_admin_replaces_a_key(sim: Simulator, engine: Engine, settings: Settings) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    before = stored(engine, org.id)
    sim.requests.clear()
    with pytest.raises(PermissionDenied):
        connections.replace_key(
            org.admin_key,
            organization_id=org.id,
            name=org.name,
            provider=Provider.CONSOLE,
            probe=key_probe(settings, transport=sim.transport()),
            engine=engine,
            settings=settings,
            keystore=KeyStore.from_settings(settings),
            actor=VIEWER,
        )
    assert sim.requests == []  # refused before the key was sent anywhere
    assert stored(engine, org.id).key_ciphertext == before.key_ciphertext
