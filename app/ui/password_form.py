"""The "Change password" form of the signed-in local account (the Account and Users pages)."""

from __future__ import annotations

import streamlit as st

from app.passwords import MIN_LENGTH, WeakPassword
from app.services.access import Actor
from app.services.users import PasswordChangeError, change_password, has_local_password
from app.ui import auth, state


def change_password_form(me: Actor) -> None:
    """Current password, the new one twice. On success every other session of the account is
    signed out and this one stays signed in (its session is kept, so nothing needs re-opening)."""
    engine = state.engine()
    if not has_local_password(engine, me.email):
        st.info(
            "You sign in with single sign-on: change your password with your identity provider.",
            icon=":material/key:",
        )
        return
    # Cleared on submit: no password stays in the page's widgets after the change.
    with st.form("change_password", clear_on_submit=True, border=True):
        st.subheader("Change your password")
        current = st.text_input(
            "Current password", type="password", autocomplete="current-password"
        )
        new = st.text_input(
            f"New password (at least {MIN_LENGTH} characters)",
            type="password",
            autocomplete="new-password",
        )
        again = st.text_input("New password again", type="password", autocomplete="new-password")
        submitted = st.form_submit_button("Change password", type="primary")
    if not submitted:
        return
    if not current:
        st.error("Enter your current password.")
        return
    if new != again:
        st.error("The two new passwords differ.")
        return
    try:
        ended = change_password(
            engine,
            email=me.email,
            current_password=current,
            new_password=new,
            keep_token=st.session_state.get(auth.TOKEN),
        )
    except (PasswordChangeError, WeakPassword, ValueError) as exc:
        st.error(str(exc))
        return
    others = f"{ended} other session(s) were signed out" if ended else "No other session was open"
    st.success(f"Your password is changed. {others}; you stay signed in here.")
