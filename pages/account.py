"""Account (everyone signed in): who you are signed in as, and changing your password."""

from __future__ import annotations

import streamlit as st

from app.ui import auth
from app.ui.format import md
from app.ui.password_form import change_password_form

me = auth.actor()
st.title("Account")
st.caption(f"Signed in as {md(me.email)} ({me.role})")
change_password_form(me)
