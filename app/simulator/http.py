"""Serve a simulator over real HTTP on loopback (a ThreadingHTTPServer in a daemon thread)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from app.simulator import Simulator


class SimServer:
    """A running HTTP server for one simulator; use as a context manager or call ``close``."""

    def __init__(self, sim: Simulator, host: str, port: int) -> None:
        handler = _handler_for(sim)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SimServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _handler_for(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command,
                f"http://{self.headers.get('host', 'localhost')}{self.path}",
                headers=list(self.headers.items()),
                content=body,
            )
            response = sim.handler(request)
            content = response.read()
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = _serve
        do_POST = _serve
        do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # keep test output quiet; requests are recorded on the simulator

    return Handler


def serve_http(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> SimServer:
    """Start serving ``sim`` at ``host:port`` (0 picks a free port); see ``.base_url``."""
    return SimServer(sim, host, port)
