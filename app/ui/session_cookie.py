"""The session cookie, set by the server's own HTTP answer so that it is HttpOnly.

Streamlit talks to the page over a WebSocket, and a WebSocket message cannot set a cookie; a
cookie written by a script in the page cannot be HttpOnly. So ``app/main.py`` serves the app
through ``st.App`` (Streamlit's documented ASGI entry point, which ``streamlit run`` uses when
the script defines one) with one extra route. After a sign-in the page posts a one-time code to
that route and the answer's ``Set-Cookie`` carries the session token, HttpOnly and SameSite
Strict: no script in the page, injected or not, can read the token. The code is random, lives
60 seconds in this process and is used once. A request must carry the ``X-Finops-Session``
header, which a cross-site form cannot send (and a cross-site ``fetch`` cannot without a CORS
answer it never gets), so another site can neither plant its own session nor sign anyone out.

Where the route is not there (``AppTest``), the page writes the same cookie with a script, as
before, without HttpOnly.
"""

from __future__ import annotations

import json
import secrets
import threading
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from streamlit import config

COOKIE = "finops_session"
HEADER = "X-Finops-Session"
PATH = "_finops/session"
CODE_SECONDS = 60.0
_MAX_BODY = 1024

_codes: dict[str, tuple[str, int, float]] = {}
_lock = threading.Lock()
_served = False


def _url() -> str:
    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/{PATH}" if base else f"/{PATH}"


def route() -> Route:
    """The route ``st.App`` serves; from then on the page asks it for the cookie."""
    global _served
    _served = True
    return Route(_url(), _answer, methods=["POST"])


def served() -> bool:
    """True when this process serves the route (``streamlit run app/main.py``)."""
    return _served


def _hand_off(token: str, max_age: int) -> str:
    code = secrets.token_urlsafe(32)
    now = time.monotonic()
    with _lock:
        for stale in [c for c, (_, _, until) in _codes.items() if until < now]:
            del _codes[stale]
        _codes[code] = (token, max_age, now + CODE_SECONDS)
    return code


def _take(code: str) -> tuple[str, int] | None:
    with _lock:
        entry = _codes.pop(code, None)
    if entry is None or entry[2] < time.monotonic():
        return None
    return entry[0], entry[1]


def script(token: str, max_age: int) -> str:
    """The page's request for the cookie: set to ``token``, or cleared when it is empty."""
    body: dict[str, object] = {"code": _hand_off(token, max_age)} if token else {"clear": True}
    return (
        # keepalive: a reload or a link opened while it is in flight does not cancel it.
        f"fetch({json.dumps(_url())}, {{method: 'POST', credentials: 'same-origin', "
        "keepalive: true, "
        f"headers: {{'Content-Type': 'application/json', {json.dumps(HEADER)}: '1'}}, "
        f"body: JSON.stringify(Object.assign({json.dumps(body)}, "
        "{secure: location.protocol === 'https:'}))});"
    )


async def _answer(request: Request) -> Response:
    refused = Response(status_code=403, headers={"Cache-Control": "no-store"})
    if request.headers.get(HEADER) != "1" or request.headers.get("sec-fetch-site") in (
        "cross-site",
        "same-site",
    ):
        return refused
    raw = await request.body()
    try:
        body = json.loads(raw) if len(raw) <= _MAX_BODY else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return refused
    answer = Response(status_code=204, headers={"Cache-Control": "no-store"})
    secure = body.get("secure") is True
    if body.get("clear") is True:
        answer.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
        return answer
    entry = _take(str(body.get("code", "")))
    if entry is None:
        return refused
    token, max_age = entry
    answer.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    return answer
