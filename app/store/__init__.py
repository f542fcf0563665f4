"""The write path: what the sync (and the benchmarks) store, in the caller's transaction.

- ``days``: ``replace_days``, the stored rows of whole days replaced by a chunk's rows;
- ``bulk``: the inserts under it (an executemany on SQLite, COPY on Postgres);
- ``rollups``: the daily rollups rebuilt from the detail rows just written;
- ``dimensions``: the values each dashboard filter offers;
- ``ranges``: each dataset's stored row count and day range;
- ``directory``: workspace and API key names.

Which table, rollup and filters each dataset has is ``app.datasets``' registry.
"""

from app.store.days import check_bounds, replace_days, replace_days_counted
from app.store.dimensions import FILTER_DIMENSIONS
from app.store.directory import store_directory
from app.store.ranges import advance_stored_range, refresh_stored_range

__all__ = [
    "FILTER_DIMENSIONS",
    "advance_stored_range",
    "check_bounds",
    "refresh_stored_range",
    "replace_days",
    "replace_days_counted",
    "store_directory",
]
