"""How many days each page of a Console organization's usage or cost report asks for, so that
a page (and so the worker's memory: the page's JSON, its parsed rows, what the store holds of
them) stays near ``ROWS_PER_PAGE`` rows whatever the organization's rows per day.

The days per page follow the rows per day measured from what came back: from the rows already
stored for the dataset when a window opens, then from each page; when the query's page size
changes, ``ingest.sources.console`` restarts it from the stored position with the new size (no
page is asked for twice). While the rows per day are not known yet (an organization's first
backfill) the first page asks for 31 days; one of several days larger than the client's page
budget is refused unread (``PageOverBudget``) and asked again with as many days as fit. Small
organizations never notice: their pages are the 31 days they always were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.anthropic.base import MAX_BUCKETS_PER_PAGE
from app.anthropic.errors import PageOverBudget
from app.models import SyncState

# Result rows a report page should hold at most, about: each costs ~2.7 kB at the peak of its
# page (its JSON text, the parsed JSON), ~1.3 kB once parsed, so ~110 MB over the worker's
# own; and ~19 MB of usage JSON, within the client's page budget (PAGE_BUDGET_BYTES).
ROWS_PER_PAGE = 40_000


@dataclass
class PageSize:
    """Days per page of one dataset's window (``days``), within ``most`` (31; a quarter of
    that after each page too large to read)."""

    days: int
    most: int = MAX_BUCKETS_PER_PAGE
    asked: int = MAX_BUCKETS_PER_PAGE  # the days the current query asks per page

    @classmethod
    def for_window(cls, state: SyncState) -> PageSize:
        """Sized from the rows per day already stored for the dataset, if any."""
        if state.row_count > 0 and state.first_day is not None and state.last_day is not None:
            span = (state.last_day - state.first_day).days + 1
            return cls(days_for(state.row_count / span))
        return cls(MAX_BUCKETS_PER_PAGE)

    def measured(self, rows: int, days: int) -> None:
        """A page brought ``rows`` rows for ``days`` days: size the next pages after it."""
        if days > 0:
            self.days = min(self.most, days_for(rows / days))

    def over_budget(self, exc: PageOverBudget) -> bool:
        """A page of ``asked`` days was refused as larger than the page budget: as many days
        as fit in half the budget (its size was declared), else a quarter as many. False when
        the refused page held a single day (never the case: those are read to the cap)."""
        if self.asked <= 1:
            return False
        if exc.size:
            fit = self.asked * (exc.budget // 2) // exc.size
            self.days = max(1, min(self.asked // 2, fit))
        else:
            self.days = max(1, self.asked // 4)
        return True

    def fewer(self) -> bool:
        """After a page too large to read: a quarter as many days from now on (31, 7, 1).
        False when pages already hold a single day."""
        if self.asked <= 1:
            return False
        self.most = self.days = max(1, self.asked // 4)
        return True


def days_for(rows_per_day: float) -> int:
    """Days per page holding at most ``ROWS_PER_PAGE`` rows (at least one day, at most 31)."""
    if rows_per_day <= 0:
        return MAX_BUCKETS_PER_PAGE
    return max(1, min(MAX_BUCKETS_PER_PAGE, ROWS_PER_PAGE // math.ceil(rows_per_day)))
