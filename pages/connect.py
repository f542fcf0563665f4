"""Connect wizard: paste an Admin key, test it, save it, watch the backfill arrive."""

from __future__ import annotations

import hashlib

import streamlit as st

from app.anthropic.errors import AnthropicError
from app.anthropic.keys import ADMIN_KEY_URL, KeyFormatError
from app.anthropic.schemas import OrganizationInfo
from app.runtime import keystore
from app.services.connections import save_connection, test_admin_key
from app.services.organizations import find_organization
from app.ui import auth, state
from app.ui.format import md

KEY_FIELD = "connect_key"
LABEL_FIELD = "connect_label"


def _fingerprint(key: str) -> str:
    # Which key was tested, without keeping the key itself around in session state.
    return hashlib.sha256(key.strip().encode()).hexdigest()


def _test() -> None:
    key = st.session_state.get(KEY_FIELD, "")
    st.session_state.pop("connect_tested", None)
    try:
        info = test_admin_key(key, settings=state.settings())
    except KeyFormatError as exc:
        st.session_state["connect_error"] = str(exc)
        return
    except AnthropicError as exc:
        st.session_state["connect_error"] = str(exc)
        return
    st.session_state.pop("connect_error", None)
    st.session_state["connect_tested"] = {
        "fingerprint": _fingerprint(key), "id": info.id, "name": info.name,
    }  # fmt: skip


def _save() -> None:
    tested = st.session_state.get("connect_tested")
    key = st.session_state.get(KEY_FIELD, "")
    if not tested or tested["fingerprint"] != _fingerprint(key):
        st.session_state["connect_error"] = "Test the connection with this key before saving."
        return
    settings = state.settings()
    result = save_connection(
        engine=state.engine(),
        settings=settings,
        keystore=keystore(settings),
        actor=auth.actor(),
        raw_key=key,
        info=OrganizationInfo(tested["id"], tested["name"]),
        label=st.session_state.get(LABEL_FIELD),
    )
    # The key leaves the session the moment it is stored.
    st.session_state[KEY_FIELD] = ""
    st.session_state.pop("connect_tested", None)
    st.session_state["connect_saved"] = result.organization_id
    state.clear_caches()


auth.require_admin_page()
st.title("Connect a Claude Console organization")

saved = st.session_state.get("connect_saved")
if saved:
    org = next((o for o in state.organizations() if o.organization_id == saved), None)
    if org is not None:
        st.success(f"**{md(org.name)}** is connected. Key stored encrypted: `{org.key_hint}`.")

        @st.fragment(run_every=2)
        def _progress() -> None:
            now = next((o for o in state.organizations() if o.organization_id == saved), None)
            if now is None:
                return
            if now.status == "backfilling":
                text = f"Importing the last six months: {now.backfill_progress:.0%}"
                st.progress(now.backfill_progress, text=text)
            elif now.status == "healthy":
                st.progress(1.0, text="Six months of usage and cost are ready.")
                st.page_link("../pages/spend.py", label="Explore spend", icon=":material/payments:")
            else:
                st.warning(md(now.status_message or "The first sync has not succeeded yet."))

        _progress()
    if st.button("Connect another organization"):
        st.session_state.pop("connect_saved", None)
        st.rerun()
    st.stop()

with st.expander("Where do I get an Admin API key?", expanded=True):
    st.markdown(
        f"""
1. Sign in to the **Claude Console** as an organization **admin** (only admins can create one).
2. Open **Settings → Admin keys** ([{ADMIN_KEY_URL}]({ADMIN_KEY_URL})) and create a key.
3. Copy the secret — it starts with `sk-ant-admin01-` and is **shown only once**.

A regular API key (`sk-ant-api03-…`) or a Claude Enterprise key (`sk-ant-api01-…`) will not work
here. The key is stored encrypted; afterwards only a hint such as `sk-ant-admin01-…AbCd` is shown.
"""
    )

current = st.session_state.get(KEY_FIELD, "")
tested = st.session_state.get("connect_tested")
tested_now = bool(tested and current and tested["fingerprint"] == _fingerprint(current))
existing = find_organization(state.engine(), tested["id"]) if tested_now and tested else None

# A form, so Enter in the key field runs the test.
with st.form("connect_form", border=False):
    st.text_input("Admin API key", type="password", key=KEY_FIELD,
                  placeholder="sk-ant-admin01-…", autocomplete="off")  # fmt: skip
    st.text_input("Label (optional)", key=LABEL_FIELD, placeholder="e.g. Production org",
                  help="Shown instead of the organization's own name.")  # fmt: skip
    st.form_submit_button("Test connection", on_click=_test,
                          type="secondary" if tested_now else "primary")  # fmt: skip
st.button("Replace key" if existing else "Save", on_click=_save, disabled=not tested_now,
          type="primary" if tested_now else "secondary",
          help="Available after a successful test of this key.")  # fmt: skip

error = st.session_state.get("connect_error")
if error:
    st.error(md(error), icon=":material/error:")
elif tested_now and tested:
    st.success(f"Connected to **{md(tested['name'])}** (organization id {md(tested['id'])}).",
               icon=":material/check_circle:")  # fmt: skip
    if existing:
        st.info("This organization is already connected. Saving replaces its key; its data stays.")
