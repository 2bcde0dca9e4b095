"""uvicorn's httptools protocol with the limits a production server needs before a request reaches
the app: a connection cap, a deadline for the request line and headers, URL and header size caps, and
every refusal as TF Serving-style JSON (uvicorn's own are plain text and never counted in /metrics).

uvicorn arms its keep-alive timer only after a response, so a client that connects and never finishes
its headers would otherwise hold the connection for ever."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request already answered."""


def guarded_protocol(
    max_connections: int, header_timeout: float, max_header_bytes: int, count: Callable[[int], None]
) -> type[HttpToolsProtocol]:
    """Returns the protocol class for uvicorn's `http` setting.

    Args:
        max_connections: one connection more than this is answered 503 and closed.
        header_timeout: seconds a connection has to finish a request line and headers.
        max_header_bytes: the URL (414) or the request line and headers (431) may not be longer.
        count: called with the status of each refusal, for /metrics.
    """

    class GuardedProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _header_bytes = 0
        _refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                self._refuse(503, f"the server has {max_connections} connections open, its limit; retry later")
                return
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self.cycle is None or self.cycle.response_complete:
                # Bytes of a new request (or a keep-alive connection waking up): its headers have a deadline.
                self._arm()
            super().data_received(data)

        def on_message_begin(self) -> None:
            self._header_bytes = 0
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            if len(self.url) > max_header_bytes:
                self._refuse(414, f"the URL is longer than {max_header_bytes} bytes")
                raise _Refused

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_bytes += len(name) + len(value) + 4
            if self._header_bytes + len(self.url) > max_header_bytes:
                self._refuse(431, f"the request line and headers are longer than {max_header_bytes} bytes")
                raise _Refused
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            if not self._refused:  # a parser error after our own refusal is that refusal
                self._refuse(400, f"malformed HTTP request: {msg}")

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(header_timeout, self._timed_out)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _timed_out(self) -> None:
            self._deadline = None
            if self.cycle is None or self.cycle.response_complete:
                self._refuse(408, f"the request line and headers did not arrive within {header_timeout:g}s")

        def _refuse(self, status: int, message: str) -> None:
            self._refused = True
            self._disarm()
            count(status)
            body = json.dumps({"error": message}).encode()
            head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])]
            head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body)]
            head += [b"connection: close\r\n\r\n"]
            if not self.transport.is_closing():
                self.transport.write(b"".join(head) + body)
                self.transport.close()

    return GuardedProtocol
