"""Users (admins only): who can sign in, with which role; add, change role, remove, set a
password; and the admin's own "Change password" (everyone else has it on the Account page)."""

from __future__ import annotations

import streamlit as st

from app.models import Role
from app.passwords import MIN_LENGTH, WeakPassword
from app.services.access import PermissionDenied
from app.services.users import add_user, list_users, remove_user, set_password, set_role
from app.ui import auth, state
from app.ui.format import md, plain
from app.ui.password_form import change_password_form
from app.ui.tables import table

me = auth.require_admin_page()
st.title("Users")
st.caption(
    "Admins connect organizations, replace keys, delete data and manage users. "
    "Viewers see the dashboards and export CSVs."
)

notice = st.session_state.pop("users_notice", None)
if notice:
    st.success(md(notice))

accounts = list_users(state.engine(), actor=me)
table(
    [
        {"Email": a.email, "Name": a.name or "", "Role": a.role, "Last sign-in": a.last_sign_in_at}
        for a in accounts
    ],
)

left, right = st.columns(2)
with left, st.form("add_user", clear_on_submit=True, border=True):
    st.subheader("Add a user")
    email = st.text_input("Email")
    name = st.text_input("Name (optional)")
    role = st.selectbox("Role", Role.ALL, index=1)
    password = st.text_input(
        f"Initial password (at least {MIN_LENGTH} characters)", type="password"
    )
    if st.form_submit_button("Add user", type="primary"):
        try:
            add_user(state.engine(), actor=me, email=email, password=password, role=role, name=name)
        except (WeakPassword, ValueError, PermissionDenied) as exc:
            st.error(md(str(exc)))
        else:
            st.session_state["users_notice"] = f"Added {email.strip().lower()} as {role}."
            st.rerun()

with right, st.container(border=True):
    st.subheader("Change or remove")
    chosen = st.selectbox(
        "User", [a.email for a in accounts], key="users_chosen", format_func=plain
    )
    new_role = st.selectbox("New role", Role.ALL, key="users_role")
    change, remove = st.columns(2)
    try:
        if change.button("Save role"):
            set_role(state.engine(), actor=me, email=chosen, role=new_role)
            st.session_state["users_notice"] = f"{chosen} is now {new_role}."
            st.rerun()
        if remove.button(
            "Remove user", disabled=chosen == me.email, help="You cannot remove yourself."
        ):
            remove_user(state.engine(), actor=me, email=chosen)
            st.session_state["users_notice"] = f"Removed {chosen}."
            st.rerun()
    except (ValueError, PermissionDenied) as exc:
        st.error(md(str(exc)))

mine, theirs = st.columns(2)
with mine:
    change_password_form(me)
others = [a.email for a in accounts if a.email != me.email]
with theirs, st.form("set_password", clear_on_submit=True, border=True):
    st.subheader("Set a user's password")
    st.caption("For a forgotten password: every session of that user is signed out.")
    whose = st.selectbox("User", others, key="users_password_of", format_func=plain)
    new_password = st.text_input(
        f"New password (at least {MIN_LENGTH} characters)",
        type="password",
        autocomplete="new-password",
    )
    again = st.text_input("New password again", type="password", autocomplete="new-password")
    if st.form_submit_button("Set password", disabled=not others):
        if new_password != again:
            st.error("The two new passwords differ.")
        elif whose is not None:
            try:
                ended = set_password(state.engine(), actor=me, email=whose, password=new_password)
            except (WeakPassword, ValueError, PermissionDenied) as exc:
                st.error(md(str(exc)))
            else:
                st.success(md(f"Set a new password for {whose}; {ended} session(s) signed out."))
