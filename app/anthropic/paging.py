"""The one paginator of the Admin and Analytics APIs: a cursor series with a required stop
condition, refused when its cursors break the contract, capped, and restarted from page one
after an expired cursor (410) in one of the two ways its callers need."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.anthropic.errors import CursorExpired, PaginationError

log = logging.getLogger(__name__)

MAX_PAGES = 10_000  # a stop condition even if the API keeps saying has_more
# How often a query restarts from page one after its cursor expired (410) before giving up.
MAX_CURSOR_RESTARTS = 3

P = TypeVar("P")


@dataclass(frozen=True)
class PagingErrors:
    """What the user is told when a series breaks; each kind of series words its own.
    ``too_many`` may say ``{pages}``: the page cap."""

    missing: str  # more pages promised, no cursor to reach them
    repeated: str  # a cursor already followed came back
    too_many: str  # the page cap reached while more pages were still promised


@dataclass(frozen=True)
class Paginator(Generic[P]):
    """A series of pages linked by cursors. ``fetch`` gets the page a cursor points at (``None``:
    the first page); ``has_more`` is the stop condition; ``next_cursor`` reads the cursor of the
    next page (``None`` or empty when there is none). ``name`` names the series in logs."""

    fetch: Callable[[str | None], P]
    next_cursor: Callable[[P], str | None]
    has_more: Callable[[P], bool]
    errors: PagingErrors
    name: str
    max_pages: int = MAX_PAGES
    max_restarts: int = MAX_CURSOR_RESTARTS

    def once(self) -> Iterator[P]:
        """The pages in order, without restarting: an expired cursor raises ``CursorExpired``.
        A page promising more that cannot be followed (no cursor, or one already followed) is
        not handed out: the series stops there with ``PaginationError``."""
        seen: set[str] = set()
        cursor: str | None = None
        for _ in range(self.max_pages):
            page = self.fetch(cursor)
            if not self.has_more(page):
                yield page
                return
            cursor = self.next_cursor(page)
            if not cursor:
                raise PaginationError(self.errors.missing)
            if cursor in seen:
                raise PaginationError(self.errors.repeated)
            seen.add(cursor)
            yield page
        raise PaginationError(self.errors.too_many.replace("{pages}", str(self.max_pages)))

    def collect(self) -> list[P]:
        """The whole series. An expired cursor drops what was read and reads it all again from
        page one, so a caller that uses the series only once it is whole counts nothing twice."""
        for restart in range(self.max_restarts + 1):
            try:
                return list(self.once())
            except CursorExpired:
                if restart >= self.max_restarts:
                    raise
                self._restarting()
        raise AssertionError("unreachable")

    def stream(self) -> Iterator[P]:
        """The pages as they come. An expired cursor restarts from page one, so pages handed
        out before it come again: for a caller that skips what it already stored."""
        for restart in range(self.max_restarts + 1):
            try:
                yield from self.once()
                return
            except CursorExpired:
                if restart >= self.max_restarts:
                    raise
                self._restarting()

    def _restarting(self) -> None:
        log.info("A page cursor of %s expired; restarting from the first page", self.name)
