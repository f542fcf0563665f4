"""Streamlit building blocks shared by the pages (widgets, charts, cached reads)."""
