"""Connect wizard: choose the connection type, paste its key, test it, save it, watch the
backfill arrive. Claude Console organizations use an Admin key; Claude Enterprise
organizations an Analytics API key."""

from __future__ import annotations

import hashlib

import streamlit as st

from app.anthropic.errors import AnthropicError
from app.anthropic.keys import ADMIN_KEY_URL, ANALYTICS_KEY_URL, KeyFormatError
from app.anthropic.schemas import OrganizationInfo
from app.models import OrgStatus, Provider
from app.services.connections import save_connection, test_key
from app.services.organizations import find_organization
from app.ui import auth, connections, state
from app.ui.format import md, shown_as

KEY_FIELD = "connect_key"
LABEL_FIELD = "connect_label"
TYPE_FIELD = "connect_type"
TYPES: dict[str, str] = {
    Provider.CONSOLE: "Claude Console (Admin API key)",
    Provider.ENTERPRISE: "Claude Enterprise (Analytics API)",
}


def _fingerprint(key: str) -> str:
    # Which key was tested, without keeping the key itself around in session state.
    return hashlib.sha256(key.strip().encode()).hexdigest()


def _provider() -> str:
    return st.session_state.get(TYPE_FIELD) or Provider.CONSOLE


def _test() -> None:
    key = st.session_state.get(KEY_FIELD, "")
    provider = _provider()
    st.session_state.pop("connect_tested", None)
    try:
        info = test_key(
            provider,
            key,
            probe=connections.key_probe(),
            label=st.session_state.get(LABEL_FIELD),
        )
    except (KeyFormatError, AnthropicError) as exc:
        st.session_state["connect_error"] = str(exc)
        return
    st.session_state.pop("connect_error", None)
    st.session_state["connect_tested"] = {
        "fingerprint": _fingerprint(key),
        "id": info.id,
        "name": info.name,
        "provider": provider,
    }


def _save() -> None:
    tested = st.session_state.get("connect_tested")
    key = st.session_state.get(KEY_FIELD, "")
    if (
        not tested
        or tested["fingerprint"] != _fingerprint(key)
        or tested["provider"] != _provider()
    ):
        st.session_state["connect_error"] = "Test the connection with this key before saving."
        return
    result = save_connection(
        engine=state.engine(),
        settings=state.settings(),
        keystore=connections.keystore(),
        actor=auth.actor(),
        raw_key=key,
        info=OrganizationInfo(tested["id"], tested["name"]),
        label=st.session_state.get(LABEL_FIELD),
        provider=tested["provider"],
    )
    # The key leaves the session the moment it is stored.
    st.session_state[KEY_FIELD] = ""
    st.session_state.pop("connect_tested", None)
    st.session_state["connect_saved"] = result.organization_id
    st.session_state["connect_key_note"] = result.key_note  # its kind's prefix, not the key
    state.clear_caches()


auth.require_admin_page()
st.title("Connect an organization")

saved = st.session_state.get("connect_saved")
if saved:
    org = next((o for o in state.organizations() if o.organization_id == saved), None)
    if org is not None:
        st.success(f"**{md(org.name)}** is connected. Key stored encrypted: `{org.key_hint}`.")
        if note := st.session_state.get("connect_key_note"):
            st.info(md(note))

        @st.fragment(run_every=2)
        def _progress() -> None:
            now = next((o for o in state.organizations() if o.organization_id == saved), None)
            if now is None:
                return
            if now.status == OrgStatus.BACKFILLING:
                text = f"Importing the last six months: {now.backfill_progress:.0%}"
                st.progress(now.backfill_progress, text=text)
            elif now.status == OrgStatus.HEALTHY:
                ready = (
                    "Usage and cost history are ready."
                    if now.provider == Provider.ENTERPRISE
                    else "Six months of usage and cost are ready."
                )
                st.progress(1.0, text=ready)
                st.page_link("../pages/spend.py", label="Explore spend", icon=":material/payments:")
            else:
                st.warning(md(now.status_message or "The first sync has not succeeded yet."))

        _progress()
    if st.button("Connect another organization"):
        st.session_state.pop("connect_saved", None)
        st.session_state.pop("connect_key_note", None)
        st.rerun()
    st.stop()

st.segmented_control(
    "Connection type",
    list(TYPES),
    format_func=shown_as(TYPES),
    key=TYPE_FIELD,
    default=Provider.CONSOLE,
    help="Each connection type reports on its own, under its own "
    "provider: Anthropic for Console organizations, Anthropic (Analytics API) for Enterprise.",
)
enterprise = _provider() == Provider.ENTERPRISE
if enterprise:
    with st.expander("Where do I get an Analytics API key?", expanded=True):
        st.markdown(
            f"""
1. The **Primary Owner** of the Claude Enterprise organization signs in to claude.ai.
2. In **Organization settings → API** ([{ANALYTICS_KEY_URL}]({ANALYTICS_KEY_URL})), switch API
   access on and create a key with the **`read:analytics`** scope.
3. Copy the secret — it starts with `sk-ant-api01-` and is **shown only once**.

Claude Enterprise reports cost and usage by product, model and user, and engagement (active
users, adoption, seats) from 2026-01-01 on. The key is stored encrypted; afterwards only a hint
such as `sk-ant-api01-…AbCd` is shown.
"""
        )
else:
    with st.expander("Where do I get an Admin API key?", expanded=True):
        st.markdown(
            f"""
1. Sign in to the **Claude Console** as an organization **admin** (only admins can create one).
2. Open **Settings → Admin keys** ([{ADMIN_KEY_URL}]({ADMIN_KEY_URL})) and create a key.
3. Copy the secret — it starts with `sk-ant-admin01-` and is **shown only once**.

A regular API key (`sk-ant-api03-…`) will not work here; a Claude Enterprise key
(`sk-ant-api01-…`) belongs to the Claude Enterprise connection type above. The key is stored
encrypted; afterwards only a hint such as `sk-ant-admin01-…AbCd` is shown.
"""
        )

current = st.session_state.get(KEY_FIELD, "")
tested = st.session_state.get("connect_tested")
tested_now = bool(
    tested
    and current
    and tested["fingerprint"] == _fingerprint(current)
    and tested["provider"] == _provider()
)
existing = find_organization(state.engine(), tested["id"]) if tested_now and tested else None

# A form, so Enter in the key field runs the test.
with st.form("connect_form", border=False):
    if enterprise:
        st.text_input(
            "Analytics API key",
            type="password",
            key=KEY_FIELD,
            placeholder="sk-ant-api01-…",
            autocomplete="off",
        )
        st.text_input(
            "Organization name",
            key=LABEL_FIELD,
            placeholder="e.g. Acme Enterprise",
            help="The Analytics API does not tell the organization's name; "
            "this is how it is shown.",
        )
    else:
        st.text_input(
            "Admin API key",
            type="password",
            key=KEY_FIELD,
            placeholder="sk-ant-admin01-…",
            autocomplete="off",
        )
        st.text_input(
            "Label (optional)",
            key=LABEL_FIELD,
            placeholder="e.g. Production org",
            help="Shown instead of the organization's own name.",
        )
    st.form_submit_button(
        "Test connection", on_click=_test, type="secondary" if tested_now else "primary"
    )
st.button(
    "Replace key" if existing else "Save",
    on_click=_save,
    disabled=not tested_now,
    type="primary" if tested_now else "secondary",
    help="Available after a successful test of this key.",
)

error = st.session_state.get("connect_error")
if error:
    st.error(md(error), icon=":material/error:")
elif tested_now and tested and tested["provider"] == Provider.ENTERPRISE:
    st.success(
        "The Analytics API accepted this key (scope read:analytics).",
        icon=":material/check_circle:",
    )
elif tested_now and tested:
    st.success(
        f"Connected to **{md(tested['name'])}** (organization id {md(tested['id'])}).",
        icon=":material/check_circle:",
    )
    if existing:
        st.info("This organization is already connected. Saving replaces its key; its data stays.")
