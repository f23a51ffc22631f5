"""ASGI middleware: the body-size limit (enforced before parsing), and the request context (request
id, metrics, access log, last-resort 500)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from funnelcast.serving.errors import body

logger = logging.getLogger("funnelcast.serving")
access = logging.getLogger("funnelcast.access")  # JSON lines; `funnelcast serve` sends them to stderr


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413: by Content-Length up front, else while streaming."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._reject(send)
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send):
        payload = json.dumps(body("too_large", f"request body is larger than {self.limit} bytes")).encode()
        await send(_start(413, payload))
        await send({"type": "http.response.body", "body": payload})


class _TooLarge(Exception):
    pass


_ID_OK = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def request_id(scope) -> str:
    """The client's X-Request-ID when it is a plain token (letters, digits, . _ : -, at most 128),
    else a new one: what is logged and echoed never carries a client's free text."""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id" and _ID_OK.fullmatch(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


class RequestContext:
    """The outermost layer of every HTTP request: a request id echoed as X-Request-ID, the request
    metrics, one JSON access-log line (method, route template, status, duration, request id, which key:
    no path parameters, bodies or addresses), and the last resort: an exception no handler took
    becomes a JSON 500 naming the request id, logged once with its traceback, and the connection
    stays open for the next request."""

    def __init__(self, app, metrics, access_log: bool = True):
        self.app, self.metrics, self.access_log = app, metrics, access_log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        rid = request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        status = {"code": 500, "started": False}
        header = (b"x-request-id", rid.encode("ascii"))

        async def tagged(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        except Exception:
            logger.exception("unexpected error, request id %s", rid)
            if not status["started"]:
                payload = json.dumps(
                    body("internal_error", f"internal error; it has been logged with request id {rid}")
                ).encode()
                await send(_start(500, payload, [header]))
                await send({"type": "http.response.body", "body": payload})
            status["code"] = 500
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            seconds = time.perf_counter() - start
            method = scope.get("method", "")
            self.metrics.requests.labels(path, method, str(status["code"])).inc()
            self.metrics.latency.labels(path).observe(seconds)
            if self.access_log and access.isEnabledFor(logging.INFO):
                access.info(
                    json.dumps(
                        {
                            "request_id": rid,
                            "method": method,
                            "route": path,
                            "status": status["code"],
                            "ms": round(1000 * seconds, 2),
                            "caller": state.get("caller"),
                        }
                    )
                )


def _start(status: int, payload: bytes, headers: list | None = None) -> dict:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *(headers or []),
        ],
    }
