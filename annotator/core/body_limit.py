"""Request body limits per route, enforced before the body is read (ASGI middleware).

Django's ASGI handler reads a whole body (to a spooled temporary file) before any Django
middleware or view runs, so a limit checked in a view comes too late for memory and time. This
middleware wraps the Django application in `annotator/asgi.py`:

- a declared `Content-Length` over the route's limit is answered 413 (JSON) without reading a
  byte of the body;
- a body without a length (chunked) is counted as it streams; past the limit the client gets
  413 and the application sees the client go away (Django then drops the request);
- the upload routes (`BodyLimit.routes`) refuse an anonymous request (no session cookie, no
  `Authorization` header) with 401 before reading; the views check the permission policy
  before they parse the upload.

Every other route accepts `REQUEST_MAX_BODY_BYTES` (1 MiB by default).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable

# Multipart framing around an uploaded file (boundaries, part headers, small fields).
MULTIPART_SLACK_BYTES = 1024 * 1024

Scope = dict
Message = dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def upload_routes() -> list[tuple[re.Pattern, int]]:
    """(path pattern, body limit in bytes) of the routes that take uploads, from the settings."""
    from django.conf import settings

    return [
        (re.compile(r"^/api/v1/projects/\d+/cases/$"), settings.IMPORT_MAX_UPLOAD_BYTES),
        (
            re.compile(r"^/api/v1/targets/\d+/revisions/$"),
            settings.MASK_MAX_UPLOAD_BYTES + MULTIPART_SLACK_BYTES,
        ),
        (re.compile(r"^/api/v1/models/$"), settings.MODEL_MAX_UPLOAD_BYTES),
    ]


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int | None = None,
        routes: Iterable[tuple[re.Pattern, int]] | None = None,
    ):
        from django.conf import settings

        self.app = app
        self.default = settings.REQUEST_MAX_BODY_BYTES if default is None else default
        self.routes = list(upload_routes() if routes is None else routes)

    def limit_for(self, path: str) -> tuple[int, bool]:
        """(body limit, whether the route takes uploads)."""
        for pattern, limit in self.routes:
            if pattern.match(path):
                return limit, True
        return self.default, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, upload = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _refuse(send, 400, "invalid Content-Length", "invalid_input")
                return
            if declared > limit:
                await _refuse(send, 413, _too_large(limit, upload), "too_large")
                return
        if upload and declared_body(headers) and not _has_credentials(headers):
            await _refuse(
                send,
                401,
                "Authentication credentials were not provided.",
                "not_authenticated",
                [(b"www-authenticate", b"Token")],
            )
            return
        if length is not None:
            await self.app(scope, receive, send)  # the server stops at Content-Length
            return
        await _Counted(self.app, limit, upload)(scope, receive, send)


def declared_body(headers: dict) -> bool:
    return headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers


def _has_credentials(headers: dict) -> bool:
    if b"authorization" in headers:
        return True
    from django.conf import settings

    cookie = headers.get(b"cookie", b"").decode("latin-1")
    return f"{settings.SESSION_COOKIE_NAME}=" in cookie


def _too_large(limit: int, upload: bool) -> str:
    what = "this upload route" if upload else "this route"
    return f"the request body is larger than {limit} bytes, the limit of {what}"


async def _refuse(send: Send, status: int, detail: str, code: str, extra=()) -> None:
    body = json.dumps({"detail": detail, "code": code}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Counted:
    """A body without Content-Length, counted as it arrives."""

    def __init__(self, app: ASGIApp, limit: int, upload: bool):
        self.app, self.limit, self.upload = app, limit, upload
        self.received = 0
        self.refused = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            if self.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    self.refused = True
                    await _refuse(send, 413, _too_large(self.limit, self.upload), "too_large")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not self.refused:
                await send(message)

        await self.app(scope, counted_receive, guarded_send)
