"""Overview: connected organizations and their sync status (the dashboards come next)."""

from __future__ import annotations

import streamlit as st

from app.runtime import get_engine
from app.services.organizations import PROVIDER_LABELS, list_organizations
from app.settings import get_settings

st.title("Anthropic FinOps")
orgs = list_organizations(get_engine(get_settings()))
if not orgs:
    st.info(
        "No organization is connected yet. Connect one from a terminal with "
        "`finops connect` (it reads the Admin key from standard input), or "
        "`finops connect --demo` to explore with demo data."
    )
else:
    st.dataframe(
        [
            {
                "Organization": o.name,
                "Organization id": o.organization_id,
                "Provider": PROVIDER_LABELS.get(o.provider, o.provider),
                "Key": o.key_hint,
                "Status": o.status,
                "Backfill": o.backfill_progress,
                "Last sync (UTC)": o.last_synced_at,
                "Data from": o.data_start,
                "Data to": o.data_end,
            }
            for o in orgs
        ],
        hide_index=True,
        column_config={"Backfill": st.column_config.ProgressColumn(min_value=0, max_value=1)},
    )
