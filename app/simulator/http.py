"""Serve a simulator over real HTTP on loopback: a ThreadingHTTPServer in a daemon thread."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from app.simulator import faults

if TYPE_CHECKING:
    from app.simulator import Simulator

_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}


class _Server(ThreadingHTTPServer):
    """Tracks open connections so ``close`` also ends keep-alive ones: a closed simulator must
    look down to a client holding pooled connections, not keep answering them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)


class SimServer:
    """A running HTTP server for one simulator; a context manager, or call ``close``."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _handler_for(sim))
        self.host = host
        self.port = int(self._server.server_address[1])
        self.base_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"simulator-{self.port}", daemon=True
        )
        self._thread.start()
        self._closed = False

    def close(self) -> None:
        """Stop accepting, drop open connections and release the port (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        with self._server.connections_lock:
            open_connections = list(self._server.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=5)

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
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx clients pool connections

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("host") or "127.0.0.1"
            request = httpx.Request(
                self.command,
                f"http://{host}{self.path}",
                headers=list(self.headers.items()),
                content=body,
            )
            try:
                response = sim.handler(request)
                status, headers = response.status_code, list(response.headers.items())
                # A body given as bytes is already read; a generator (slow, huge) is not.
                streamed = not hasattr(response, "_content")
                content = b"" if streamed else response.read()
            except httpx.RemoteProtocolError:
                self.close_connection = True  # the "reset" fault: no answer at all
                return
            except Exception:  # a simulator bug must show as a 500, not a dropped connection
                status, headers, streamed = 500, [("content-type", "application/json")], False
                content = json.dumps(
                    {"type": "error", "error": {"type": "api_error", "message": "Internal error"}}
                ).encode()
            if any(name.lower() == faults.TRICKLE_HEADERS_MARK for name, _ in headers):
                self._trickle_headers(status, headers, content)
                return
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            if not streamed:
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
                return
            self._send_streamed(response, dict(headers).get("content-length"))

        def _trickle_headers(
            self, status: int, headers: list[tuple[str, str]], content: bytes
        ) -> None:
            """The "trickle_headers" fault: the status line and headers a byte at a time,
            each well within any read timeout, so only a deadline ends the wait."""
            lines = [f"HTTP/1.1 {status} OK"] + [
                f"{name}: {value}"
                for name, value in headers
                if name.lower() not in _HOP_BY_HOP and name.lower() != faults.TRICKLE_HEADERS_MARK
            ]
            lines.append(f"content-length: {len(content)}")
            block = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            try:
                for offset in range(len(block)):
                    self.wfile.write(block[offset : offset + 1])
                    self.wfile.flush()
                    time.sleep(faults.TRICKLE_SECONDS)
                self.wfile.write(content)
            except OSError:
                pass  # the client gave up
            self.close_connection = True

        def _send_streamed(self, response: httpx.Response, length: str | None) -> None:
            """A body produced lazily (the slow and huge faults), written as it comes: with
            its declared length, or chunked. A client that gives up ends it."""
            chunked = length is None
            if length is None:
                self.send_header("transfer-encoding", "chunked")
            else:
                self.send_header("content-length", length)
            self.end_headers()
            try:
                for chunk in response.iter_raw():
                    if not chunk:
                        continue
                    if chunked:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    else:
                        self.wfile.write(chunk)
                    self.wfile.flush()
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client hung up
            finally:
                response.close()
            # Declared more than was sent, or the client left: this connection is done.
            self.close_connection = True

        do_GET = _serve
        do_POST = _serve
        do_PUT = _serve
        do_PATCH = _serve
        do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # quiet: requests are recorded on the simulator instead (without keys)

    return Handler


def serve_http(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> SimServer:
    """Serve ``sim`` at ``host:port`` (0 picks a free port); the URL is ``.base_url``."""
    return SimServer(sim, host, port)
