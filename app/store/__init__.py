"""The write path: what the sync (and the benchmarks) store, in the caller's transaction.

- ``days``: ``replace_days``, the stored rows of whole days replaced by a chunk's rows;
- ``bulk``: the inserts under it (an executemany on SQLite, COPY on Postgres);
- ``rollups``: the daily rollups rebuilt from the detail rows just written;
- ``dimensions``: the values each dashboard filter offers;
- ``ranges``: each dataset's stored row count and day range;
- ``directory``: workspace and API key names.
"""

from app.store.days import TABLES, check_bounds, replace_days, replace_days_counted
from app.store.dimensions import FILTER_DIMENSIONS
from app.store.directory import store_directory
from app.store.ranges import advance_stored_range, refresh_stored_range
from app.store.rollups import ROLLUPS

__all__ = [
    "FILTER_DIMENSIONS",
    "ROLLUPS",
    "TABLES",
    "advance_stored_range",
    "check_bounds",
    "refresh_stored_range",
    "replace_days",
    "replace_days_counted",
    "store_directory",
]
