"""The audit log as an admin reads it: deleted organizations keep their names, manual syncs
and failed key replacements are there, and it can be filtered by action, person and days."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text, update

from app.anthropic.errors import AnthropicError
from app.clock import today, utcnow
from app.db import SCHEMA_VERSION, migrate, write_session
from app.keystore import KeyStore
from app.models import AuditEvent
from app.runtime import key_probe
from app.services.access import OPERATOR, Actor
from app.services.actions import request_sync
from app.services.audit import audited_failure, events_csv, recent_events
from app.services.connections import KeyOfAnotherOrganization, replace_key
from app.services.organizations import delete_organization
from app.services.users import add_user, create_first_admin
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org

PASSWORD = "correct horse battery"


def test_a_deleted_organization_is_still_named_in_the_log(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    acme = next(iter(sim.orgs.values()))
    connect_org(sim, acme, engine=engine, settings=settings, label="Acme (prod)")
    assert delete_organization(engine=engine, organization_id=acme.id, actor=OPERATOR)
    events = recent_events(engine, actor=OPERATOR)
    [deleted] = [e for e in events if e.action == "organization_deleted"]
    assert deleted.subject == f"Acme (prod) ({acme.id})"
    assert all(e.organization_name == "Acme (prod)" for e in events if e.target == acme.id)
    assert b"Acme (prod)" in events_csv([deleted])


def test_sync_now_is_recorded_with_who_pressed_it(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    acme = next(iter(sim.orgs.values()))
    connect_org(sim, acme, engine=engine, settings=settings)
    admin = Actor("boss@example.com", "admin")
    assert request_sync(engine=engine, organization_id=acme.id, actor=admin)
    assert not request_sync(engine=engine, organization_id="org-unknown", actor=admin)
    synced = [e for e in recent_events(engine, actor=OPERATOR) if e.action == "sync_requested"]
    assert [(e.actor, e.target, e.organization_name) for e in synced] == [
        ("boss@example.com", acme.id, acme.name)
    ]


def test_a_failed_step_is_recorded_with_its_message_and_the_error_goes_on(
    engine: Engine,
) -> None:
    with (
        pytest.raises(AnthropicError),
        audited_failure(
            engine,
            actor="boss@example.com",
            action="key_replacement_failed",
            target="org-1",
            organization_name="Acme",
        ),
    ):
        raise AnthropicError("The key sk-ant-admin01-abcdefghijklmnop was rejected (401).")
    [event] = recent_events(engine, actor=OPERATOR)
    assert (event.action, event.subject) == ("key_replacement_failed", "Acme (org-1)")
    assert "rejected (401)" in (event.detail or "")
    assert "abcdefghijklmnop" not in (event.detail or "")  # key material masked


def test_a_failed_key_replacement_is_in_the_log(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    acme, globex = list(sim.orgs.values())[:2]
    connect_org(sim, acme, engine=engine, settings=settings)
    with pytest.raises(KeyOfAnotherOrganization):
        replace_key(
            globex.admin_key,
            organization_id=acme.id,
            name=acme.name,
            provider="anthropic",
            probe=key_probe(settings, transport=sim.transport()),
            engine=engine,
            settings=settings,
            keystore=KeyStore.from_settings(settings),
            actor=Actor("boss@example.com", "admin"),
        )
    failed = [
        e for e in recent_events(engine, actor=OPERATOR) if e.action == "key_replacement_failed"
    ]
    assert [(e.actor, e.target, e.organization_name) for e in failed] == [
        ("boss@example.com", acme.id, acme.name)
    ]


def test_the_log_filters_by_action_person_and_days(engine: Engine) -> None:
    create_first_admin(engine, email="admin@example.com", password=PASSWORD)
    admin = Actor("admin@example.com", "admin")
    add_user(engine, actor=admin, email="ana@example.com", password=PASSWORD, role="viewer")
    add_user(engine, actor=OPERATOR, email="bo@example.com", password=PASSWORD, role="viewer")
    with write_session(engine) as session:  # the first event happened ten days ago
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.action == "setup_first_admin")  # type: ignore[arg-type]
            .values(at=utcnow() - timedelta(days=10))
        )
    added = recent_events(engine, actor=OPERATOR, actions=["user_added"])
    assert [e.target for e in added] == ["bo@example.com", "ana@example.com"]
    by_admin = recent_events(engine, actor=OPERATOR, person="admin@example.com")
    assert [e.action for e in by_admin] == ["user_added", "setup_first_admin"]
    recent = recent_events(engine, actor=OPERATOR, start=today() - timedelta(days=2))
    assert "setup_first_admin" not in [e.action for e in recent] and len(recent) == 2
    old = recent_events(engine, actor=OPERATOR, end=today() - timedelta(days=2))
    assert [e.action for e in old] == ["setup_first_admin"]
    both = recent_events(engine, actor=OPERATOR, actions=["user_added"], person="admin@example.com")
    assert [e.target for e in both] == ["ana@example.com"]


def test_an_upgrade_names_the_organizations_of_earlier_events(engine: Engine) -> None:
    """Events recorded before version 11 get the name: from the organization while it exists,
    else from what its connection event said."""
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_event DROP COLUMN organization_name"))
        conn.execute(text("UPDATE schema_version SET version = 10"))
        conn.execute(
            text(
                "INSERT INTO organization (organization_id, name, label, provider, is_demo, "
                "key_ciphertext, key_hint, status, backfill_start, backfill_progress, "
                "created_at, consecutive_failures) VALUES ('org-live', 'Live Org', NULL, "
                "'anthropic', false, 'x', 'hint', 'healthy', '2026-01-01', 0, "
                "'2026-01-01 00:00:00', 0)"
            )
        )
        for i, (action, target, detail) in enumerate(
            [
                ("organization_connected", "org-gone", "Gone, Inc., key sk-ant-admin01-…AbCd"),
                ("key_replaced", "org-gone", "Gone, Inc. (renamed), key sk-ant-admin01-…EfGh"),
                ("organization_deleted", "org-gone", None),
                ("sync_requested", "org-live", None),
                ("user_added", "ana@example.com", "role viewer"),
            ]
        ):
            conn.execute(
                text(
                    "INSERT INTO audit_event (at, actor, action, target, detail) "
                    "VALUES (:at, 'operator', :action, :target, :detail)"
                ),
                {
                    "at": f"2026-01-0{i + 1} 00:00:00",
                    "action": action,
                    "target": target,
                    "detail": detail,
                },
            )
    assert migrate(engine) == SCHEMA_VERSION
    named = {e.action: e.subject for e in recent_events(engine, actor=OPERATOR)}
    assert named == {
        "organization_connected": "Gone, Inc. (renamed) (org-gone)",
        "key_replaced": "Gone, Inc. (renamed) (org-gone)",
        "organization_deleted": "Gone, Inc. (renamed) (org-gone)",
        "sync_requested": "Live Org (org-live)",
        "user_added": "ana@example.com",
    }
