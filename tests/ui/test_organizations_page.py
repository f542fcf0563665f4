"""The Organizations page and the Overview's notices as an admin sees them (issue 15, "What
users expect of the pages"): "Sync now" shows the requested sync, the running one and when it
ended; the Delete dialog names the key and product of the organization's kind; several
organizations becoming ready make one notice that stays dismissed; a deleted organization
stays named in the audit log."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update
from streamlit.testing.v1 import AppTest

from app.clock import utcnow
from app.db import read_session, write_session
from app.models import AuditEvent, Organization, OrgStatus, Provider, SyncOutcome, SyncRun
from app.services.access import OPERATOR
from app.services.organizations import delete_organization
from tests.utils.factories import org_pk

ORGS_PAGE = "../pages/organizations.py"


def add_org(
    engine: Engine,
    org_id: str,
    name: str,
    *,
    provider: str = Provider.CONSOLE,
    **values: object,
) -> None:
    """A connected organization as the sync leaves it (no data rows: none are needed here)."""
    hint = "sk-ant-api01-…EnTp" if provider == Provider.ENTERPRISE else "sk-ant-admin01-…AbCd"
    fields: dict[str, object] = {
        "status": OrgStatus.HEALTHY,
        "backfill_progress": 1.0,
        "last_synced_at": utcnow() - timedelta(hours=3),
        "next_run_at": utcnow() + timedelta(minutes=10),
        **values,
    }
    with write_session(engine) as session:
        session.add(
            Organization(
                organization_id=org_id,
                name=name,
                provider=provider,
                key_ciphertext="not-a-key",
                key_hint=hint,
                backfill_start=date(2026, 1, 1),
                created_at=utcnow(),
                **fields,  # type: ignore[arg-type]
            )
        )


def shown(at: AppTest) -> str:
    """The page's text as read: Markdown escapes resolved, word joiners invisible."""
    parts = [c.value for c in at.caption] + [m.value for m in at.markdown]
    parts += [s.value for s in at.success] + [t.value for t in at.text]
    return "\n".join(parts).replace("\\", "").replace("\u2060", "")


def test_sync_now_shows_the_request_the_running_sync_and_when_it_ended(
    app: AppTest, engine: Engine
) -> None:
    add_org(engine, "org-acme", "Acme Corp")
    pk = org_pk(engine, "org-acme")
    # A run a killed worker left "running" an hour ago (its lease ran out) is not running.
    long_ago = utcnow() - timedelta(hours=1)
    with write_session(engine) as session:
        session.execute(
            update(Organization)
            .where(Organization.id == pk)
            .values(lease_owner="worker-0", lease_expires_at=long_ago + timedelta(minutes=8))
        )
        session.add(SyncRun(organization_pk=pk, kind="incremental", started_at=long_ago))
    app.switch_page(ORGS_PAGE).run()
    assert not app.exception
    before = shown(app)
    assert "Last sync 3 h ago" in before and "Sync running" not in before

    # Sync now: the row says the sync was asked for, at once (not only a passing toast).
    app.menu_button(key="actions_org-acme").click("Sync now").run()
    assert not app.exception
    assert "Sync requested" in shown(app)

    # The worker takes it: its lease and a running run.
    started = utcnow()
    with write_session(engine) as session:
        session.execute(
            update(Organization)
            .where(Organization.id == pk)
            .values(lease_owner="worker-1", lease_expires_at=started + timedelta(minutes=8))
        )
        session.add(SyncRun(organization_pk=pk, kind="incremental", started_at=started))
    app.run()
    running = shown(app)
    assert "Sync running, started just now" in running and "Sync requested" not in running

    # It ends: the row says when.
    ended = utcnow()
    with write_session(engine) as session:
        session.execute(
            update(SyncRun)
            .where(SyncRun.organization_pk == pk, SyncRun.started_at == started)
            .values(outcome=SyncOutcome.OK, finished_at=ended)
        )
        session.execute(
            update(Organization)
            .where(Organization.id == pk)
            .values(
                lease_owner=None,
                lease_expires_at=None,
                last_synced_at=ended,
                next_run_at=ended + timedelta(minutes=15),
            )
        )
    app.run()
    done = shown(app)
    assert f"Last sync just now ({ended:%H:%M} UTC)" in done
    assert "Sync running" not in done and "Sync requested" not in done


@pytest.mark.parametrize(
    ("provider", "says", "never"),
    [
        (
            Provider.ENTERPRISE,
            ["Analytics API key", "Claude Enterprise data", "Claude Enterprise (claude.ai)"],
            ["Admin API key", "Console"],
        ),
        (
            Provider.CONSOLE,
            ["Admin API key", "usage and cost", "Anthropic's Console"],
            ["Analytics API key", "Claude Enterprise"],
        ),
    ],
    ids=["enterprise", "console"],
)
def test_the_delete_dialog_names_the_key_and_the_product(
    app: AppTest, engine: Engine, provider: str, says: list[str], never: list[str]
) -> None:
    add_org(engine, "org-1", "Initech", provider=provider)
    app.switch_page(ORGS_PAGE).run()
    app.menu_button(key="actions_org-1").click("Delete organization").run()
    assert not app.exception
    [dialog] = [m.value for m in app.markdown if "Delete **Initech**" in m.value]
    for words in says:
        assert words in dialog, dialog
    for words in never:
        assert words not in dialog, dialog


def ready_texts(at: AppTest) -> list[str]:
    return [s.value.replace("\\", "") for s in at.success if "ready" in s.value]


def test_several_ready_organizations_make_one_notice_that_stays_dismissed(
    app: AppTest, engine: Engine
) -> None:
    names = ["Acme Corp", "Globex", "Initech"]
    for i, name in enumerate(names):
        add_org(engine, f"org-{i}", name, backfill_completed_at=utcnow() - timedelta(minutes=i))
    app.run()
    assert not app.exception
    [notice] = ready_texts(app)
    assert "3 organizations are ready" in notice
    for name in names:
        assert name in notice

    app.button(key="ready_notice_dismiss").click().run()
    assert not app.exception
    assert ready_texts(app) == []
    app.run()  # later runs of the session: still dismissed
    assert ready_texts(app) == []
    app.switch_page(ORGS_PAGE).run()
    app.switch_page("../pages/overview.py").run()
    assert ready_texts(app) == []

    # Another organization becoming ready is news again: one notice, for it.
    add_org(engine, "org-new", "Hooli", backfill_completed_at=utcnow())
    app.run()
    [notice] = ready_texts(app)
    assert "Hooli" in notice and "Acme Corp" not in notice


def test_a_deleted_organization_stays_named_in_the_audit_log(engine: Engine) -> None:
    """An organization with no audit event of its own before (connected by an older version,
    or by hand) is still named by the event of its deletion, by its label."""
    add_org(engine, "org-acme", "Acme Corp Inc.", label="Acme prod")
    assert delete_organization(engine=engine, organization_id="org-acme", actor=OPERATOR)
    with read_session(engine) as session:
        events: list[tuple[str | None, datetime]] = [
            (e.organization_name, e.at)
            for e in session.execute(
                select(AuditEvent).where(
                    AuditEvent.action == "organization_deleted", AuditEvent.target == "org-acme"
                )
            ).scalars()
        ]
    assert [name for name, _ in events] == ["Acme prod"]


def test_a_dataset_the_key_may_not_read_is_explained_on_a_healthy_organization(
    app: AppTest, engine: Engine
) -> None:
    """Per-key cost refused (HTTP 403) leaves the organization healthy: its status says
    nothing, so the Organizations page and the Overview's freshness say why it is missing."""
    from app.datasets import Dataset
    from app.models import SyncState
    from app.services.organizations import list_organizations

    add_org(engine, "org-acme", "Acme Corp")
    add_org(engine, "org-globex", "Globex")
    reason = (
        "Per-key cost is unavailable: the key may not use the Usage and Cost Analytics API "
        "(beta, HTTP 403)."
    )
    with write_session(engine) as session:
        session.add(
            SyncState(
                organization_pk=org_pk(engine, "org-acme"),
                dataset=Dataset.KEY_COST,
                unavailable_reason=reason,
            )
        )
    by_id = {o.organization_id: o for o in list_organizations(engine)}
    assert by_id["org-acme"].unavailable == {Dataset.KEY_COST: reason}
    assert by_id["org-acme"].as_json()["unavailable"] == {"key_cost": reason}  # finops orgs
    assert by_id["org-globex"].unavailable == {}

    app.switch_page(ORGS_PAGE).run()
    assert not app.exception
    assert f"Acme Corp: {reason}" in shown(app)
    # And what the dashboard shows meanwhile: the estimate, said to be one.
    assert "per-key cost estimated from each key's tokens at list price" in shown(app)
    assert "Globex: Per-key" not in shown(app)
    app.switch_page("../pages/overview.py").run()
    assert not app.exception
    assert shown(app).count(reason) == 1
