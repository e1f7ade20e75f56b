"""uvicorn settings for the API: timeouts that close idle and half-sent connections.

uvicorn's ``timeout_keep_alive`` only runs between two requests; a client that opens a connection
and sends half a request line, half its headers or half its body holds that connection (a file
descriptor and a task) forever, and a few hundred such clients starve the server. The protocol
below gives every request a deadline to arrive in full, counted from the connection or from the
previous response; a request that has arrived is never cut while the model answers it.

The connection limit is enforced here too, not by uvicorn's ``limit_concurrency``: uvicorn answers
over the limit with a plain-text "Service Unavailable" from a fixed function, outside the app; here
the same test (open connections, running requests) answers the API's JSON error shape, with
``Retry-After``.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def busy_response(limit: int, retry_after_s: int):
    """The ASGI app that answers a request over the connection limit (the API's error shape)."""
    body = json.dumps({"error": {"code": "overloaded", "field": None,
                                 "message": f"Server busy: more than {limit} open connections or requests; "
                                            "retry shortly"}}).encode()

    async def busy(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(retry_after_s).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return busy


def deadline_protocol(read_timeout_s: float, max_connections: int | None = None,
                      retry_after_s: int = 1) -> type[H11Protocol]:
    busy = busy_response(max_connections or 0, retry_after_s)

    class DeadlineH11Protocol(H11Protocol):
        _deadline = None

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            if max_connections is not None:
                inner = self.app

                async def limited(scope, receive, send) -> None:
                    # uvicorn's test, made inside the request's task: it counts itself among the tasks
                    over = len(self.connections) >= max_connections or len(self.tasks) > max_connections
                    await (busy if over and scope["type"] == "http" else inner)(scope, receive, send)

                self.app = limited

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(read_timeout_s, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            answering = self.cycle is not None and not self.cycle.response_complete
            if self.transport.is_closing() or (answering and self.conn.their_state is h11.DONE):
                return  # the whole request is in; on_response_complete arms the next deadline
            self.transport.close()

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return DeadlineH11Protocol


def uvicorn_config(app, *, host: str, port: int, log_level: str = "info"):
    """The ``uvicorn.Config`` of :func:`emotune.serving.api.serve` (and of the tests' live server)."""
    import uvicorn

    settings = app.state.settings
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                          timeout_graceful_shutdown=5, timeout_keep_alive=settings.keep_alive_s,
                          http=deadline_protocol(settings.read_timeout_s, settings.max_connections,
                                                 settings.retry_after_s))
