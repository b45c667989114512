"""Request bodies over the route's limit are refused before they are read (annotator.asgi)."""

import asyncio
import json

import pytest

from annotator.core.body_limit import BodyLimit

MiB = 1024 * 1024


def _scope(path: str, method: str = "POST", headers: dict | None = None) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


def _call(app, scope, chunks: list[bytes]):
    """(messages sent, number of receive() calls)."""
    sent, reads = [], []

    async def receive():
        reads.append(1)
        if chunks:
            body = chunks.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, len(reads)


def _status(sent) -> int:
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def _body(sent) -> dict:
    return json.loads(b"".join(m.get("body", b"") for m in sent if m["type"].endswith("body")))


@pytest.fixture
def application():
    from annotator.asgi import application

    return application


@pytest.mark.parametrize(
    "path, method, size",
    [("/api/v1/auth/token/", "POST", 100 * MiB), ("/healthz", "GET", 300 * MiB)],
)
def test_large_body_to_a_small_route_is_413_unread(application, path, method, size):
    headers = {"content-length": str(size), "content-type": "multipart/form-data; boundary=x"}
    sent, reads = _call(application, _scope(path, method, headers), [b"x" * 1024])
    assert _status(sent) == 413 and reads == 0
    assert _body(sent)["code"] == "too_large"


def test_anonymous_upload_is_401_unread(application):
    headers = {"content-length": str(10 * MiB), "content-type": "multipart/form-data; boundary=x"}
    sent, reads = _call(application, _scope("/api/v1/projects/1/cases/", "POST", headers), [])
    assert _status(sent) == 401 and reads == 0


def test_chunked_body_over_the_limit_is_413_and_the_app_sees_a_disconnect():
    seen = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limited = BodyLimit(app, default=MiB, routes=[])
    scope = _scope("/api/v1/me/", "POST", {"transfer-encoding": "chunked"})
    sent, _ = _call(limited, scope, [b"x" * (MiB // 2)] * 4)
    assert _status(sent) == 413 and seen[-1] == "http.disconnect"
    assert len([m for m in sent if m["type"] == "http.response.start"]) == 1


def test_bodies_within_the_limits_pass(settings):
    async def app(scope, receive, send):
        message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"][:2]})

    settings.IMPORT_MAX_UPLOAD_BYTES = 50 * MiB
    limited = BodyLimit(app)
    upload = {"content-length": str(20 * MiB), "authorization": "Token abc"}
    sent, reads = _call(limited, _scope("/api/v1/projects/3/cases/", "POST", upload), [b"ok"])
    assert _status(sent) == 200 and reads == 1
    small = {"content-length": "2"}
    sent, reads = _call(limited, _scope("/api/v1/auth/token/", "POST", small), [b"ok"])
    assert _status(sent) == 200
    too_big = {"content-length": str(20 * MiB), "authorization": "Token abc"}
    sent, reads = _call(limited, _scope("/api/v1/targets/3/", "PATCH", too_big), [b"ok"])
    assert _status(sent) == 413 and reads == 0
