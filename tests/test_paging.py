"""The one paginator of the API client: its stop condition, the broken paging it refuses, its
page cap and its two ways of restarting after an expired cursor, with the requests it makes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from app.anthropic.errors import CursorExpired, PaginationError
from app.anthropic.paging import MAX_CURSOR_RESTARTS, MAX_PAGES, Paginator, PagingErrors

ERRORS = PagingErrors(
    missing="more promised, no cursor",
    repeated="a cursor came twice",
    too_many="Stopped after {pages} pages of the fake.",
)


@dataclass
class Page:
    """One page of the fake API: its items, and the cursor of the next one."""

    items: list[str]
    has_more: bool
    next_cursor: str | None


@dataclass
class FakeApi:
    """Pages by the cursor that asks for them (``None``: the first page). ``expire`` lists
    cursors answered 410 that many times, as after a data refresh."""

    pages: dict[str | None, Page]
    expire: dict[str, int] = field(default_factory=dict)
    asked: list[str | None] = field(default_factory=list)

    def fetch(self, cursor: str | None) -> Page:
        self.asked.append(cursor)
        if cursor is not None and self.expire.get(cursor, 0) > 0:
            self.expire[cursor] -= 1
            raise CursorExpired("The page cursor expired after a data refresh.", status=410)
        return self.pages[cursor]

    def paginator(self, **limits: int) -> Paginator[Page]:
        return Paginator(
            fetch=self.fetch,
            next_cursor=lambda page: page.next_cursor,
            has_more=lambda page: page.has_more,
            errors=ERRORS,
            name="/fake",
            **limits,
        )


def three_pages(**expire: int) -> FakeApi:
    return FakeApi(
        {
            None: Page(["a1", "a2"], True, "b"),
            "b": Page(["b1"], True, "c"),
            "c": Page(["c1"], False, None),
        },
        expire=dict(expire),
    )


def items(pages: list[Page]) -> list[str]:
    return [item for page in pages for item in page.items]


def test_it_follows_cursors_until_has_more_is_false() -> None:
    api = three_pages()
    assert items(list(api.paginator().once())) == ["a1", "a2", "b1", "c1"]
    assert api.asked == [None, "b", "c"]


def test_has_more_false_stops_even_with_a_cursor_sent() -> None:
    """The stop condition is ``has_more``: a cursor on the last page is not followed."""
    api = FakeApi({None: Page(["only"], False, "stale")})
    assert items(api.paginator().collect()) == ["only"]
    assert api.asked == [None]


@pytest.mark.parametrize("cursor", [None, ""])
def test_more_pages_promised_without_a_cursor_is_an_error(cursor: str | None) -> None:
    """Nothing of the page that promised more is handed out: no day is half-read."""
    api = FakeApi({None: Page(["a1"], True, "b"), "b": Page(["b1"], True, cursor)})
    got: list[Page] = []
    with pytest.raises(PaginationError) as caught:
        got.extend(api.paginator().once())
    assert str(caught.value) == "more promised, no cursor"
    assert items(got) == ["a1"] and api.asked == [None, "b"]


def test_a_repeated_cursor_is_an_error_not_a_loop() -> None:
    """A -> B -> C -> B: B is never asked for twice."""
    api = FakeApi(
        {None: Page(["a1"], True, "b"), "b": Page(["b1"], True, "c"), "c": Page(["c1"], True, "b")}
    )
    got: list[Page] = []
    with pytest.raises(PaginationError) as caught:
        got.extend(api.paginator().once())
    assert str(caught.value) == "a cursor came twice"
    assert items(got) == ["a1", "b1"] and api.asked == [None, "b", "c"]


def test_an_endless_series_stops_at_the_page_cap() -> None:
    endless = {None: Page(["p0"], True, "1")}
    endless |= {str(n): Page([f"p{n}"], True, str(n + 1)) for n in range(1, 10)}
    api = FakeApi(endless)
    got: list[Page] = []
    with pytest.raises(PaginationError) as caught:
        got.extend(api.paginator(max_pages=4).once())
    assert str(caught.value) == "Stopped after 4 pages of the fake."
    assert items(got) == ["p0", "p1", "p2", "p3"] and len(api.asked) == 4
    assert MAX_PAGES == 10_000  # the cap of every real series


def test_once_does_not_restart_an_expired_cursor() -> None:
    api = three_pages(c=1)
    with pytest.raises(CursorExpired):
        list(api.paginator().once())
    assert api.asked == [None, "b", "c"]


def test_collect_restarts_the_whole_series_and_keeps_each_page_once() -> None:
    """Record lists: what was read before the 410 is dropped, the series read again."""
    api = three_pages(c=2)
    assert items(api.paginator().collect()) == ["a1", "a2", "b1", "c1"]
    assert api.asked == [None, "b", "c"] * 3


def test_stream_restarts_from_page_one_and_hands_out_pages_again() -> None:
    """Report pages: pages handed out before the 410 come again (the sync skips the days it
    stored); the stream goes on to the end."""
    api = three_pages(c=1)
    assert items(list(api.paginator().stream())) == ["a1", "a2", "b1", "a1", "a2", "b1", "c1"]
    assert api.asked == [None, "b", "c", None, "b", "c"]


@pytest.mark.parametrize("policy", ["collect", "stream"])
def test_restarts_are_bounded(policy: str) -> None:
    api = three_pages(b=100)
    paginator = api.paginator()
    with pytest.raises(CursorExpired):
        list(paginator.collect() if policy == "collect" else paginator.stream())
    assert api.asked == [None, "b"] * (MAX_CURSOR_RESTARTS + 1)
    assert MAX_CURSOR_RESTARTS == 3


def test_the_restart_is_logged_with_the_series_name(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="app.anthropic.paging"):
        list(three_pages(c=1).paginator().stream())
    assert caplog.messages == ["A page cursor of /fake expired; restarting from the first page"]
