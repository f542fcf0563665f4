"""A dialog of the Organizations page stays open while the page reruns (issue 15): the live
status reruns the whole page when it sees a sync end, and the Replace key or Delete dialog a
person has open (a key half pasted) must not vanish under them. It closes on Cancel or when
done, and one left open when the person went to another page does not reopen by itself."""

from __future__ import annotations

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from tests.ui.test_organizations_page import ORGS_PAGE, add_org

REPLACE = "Paste a new Admin API key for **Acme Corp**."


def dialog_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_the_replace_key_dialog_stays_open_when_the_page_reruns(
    app: AppTest, engine: Engine
) -> None:
    add_org(engine, "org-acme", "Acme Corp")
    app.switch_page(ORGS_PAGE).run()
    app.menu_button(key="actions_org-acme").click("Replace key").run()
    assert not app.exception
    assert REPLACE in dialog_text(app)
    app.text_input(key="replace_key_value").input("sk-ant-admin01-half-pasted")

    # The live status saw the sync end: the whole page runs again (st.rerun()).
    app.run()
    assert not app.exception
    assert REPLACE in dialog_text(app)  # still open, the pasted text still in it
    assert app.text_input(key="replace_key_value").value == "sk-ant-admin01-half-pasted"
    app.run()
    assert REPLACE in dialog_text(app)

    # Cancel closes it, and it stays closed.
    app.button(key="replace_key_cancel").click().run()
    assert not app.exception
    assert REPLACE not in dialog_text(app)
    assert "replace_key_value" not in app.session_state  # the pasted text left with it
    app.run()
    assert REPLACE not in dialog_text(app)


def test_the_delete_dialog_stays_open_and_does_not_follow_the_person_elsewhere(
    app: AppTest, engine: Engine
) -> None:
    add_org(engine, "org-acme", "Acme Corp")
    app.switch_page(ORGS_PAGE).run()
    app.menu_button(key="actions_org-acme").click("Delete organization").run()
    assert "Delete **Acme Corp**" in dialog_text(app)
    app.run()
    assert not app.exception
    assert "Delete **Acme Corp**" in dialog_text(app)

    # Left open, the person goes to another page and comes back: no dialog by itself.
    app.switch_page("../pages/overview.py").run()
    app.switch_page(ORGS_PAGE).run()
    assert not app.exception
    assert "Delete **Acme Corp**" not in dialog_text(app)

    # Delete, when done, closes it: the notice, no dialog, no organization.
    app.menu_button(key="actions_org-acme").click("Delete organization").run()
    app.button(key="delete_confirm").click().run()
    assert not app.exception
    assert "Delete **Acme Corp**" not in dialog_text(app)
    assert any("Deleted Acme Corp" in s.value for s in app.success)
