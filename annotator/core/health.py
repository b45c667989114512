"""Liveness and readiness probes, and who may read the diagnostics.

In production (ANNOTATOR_PRODUCTION=1) the details are not public: `/readyz` answers anyone with
its status code and `{"status": ...}` only, the checks' details (which dependency failed, and
its error) go to staff sessions and to the METRICS_TOKEN bearer; `/metrics` needs one of those
two. In development both are open, unless METRICS_TOKEN is set (then /metrics needs it or a
staff session). See docs/deploy.md#health-metrics-and-the-schema.
"""

from __future__ import annotations

import hmac
import time
import uuid

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from prometheus_client import generate_latest

from .observability import REGISTRY


def healthz(request):
    """The process answers."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _check_storage() -> None:
    name = default_storage.save(f"health/{uuid.uuid4().hex}", ContentFile(b"ok"))
    try:
        with default_storage.open(name, "rb") as fh:
            if fh.read() != b"ok":
                raise OSError("storage returned different bytes")
    finally:
        default_storage.delete(name)


CHECKS = {"database": _check_database, "broker": _check_broker, "storage": _check_storage}


def _bearer_ok(request) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


def _staff(request) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


def may_see_diagnostics(request) -> bool:
    """Staff sessions and the METRICS_TOKEN bearer always; anyone else outside production."""
    return _bearer_ok(request) or _staff(request) or not settings.PRODUCTION


def metrics(request):
    """Prometheus text format, for the METRICS_TOKEN bearer or a staff session; open to anyone
    only in development without METRICS_TOKEN."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if not (_bearer_ok(request) or _staff(request)) and (token or settings.PRODUCTION):
        return HttpResponseForbidden("metrics need the bearer token (METRICS_TOKEN) or staff")
    return HttpResponse(generate_latest(REGISTRY), content_type="text/plain; version=0.0.4")


def readyz(request):
    """Database, broker and file store all reachable → 200, else 503 naming what failed (to
    those who may see diagnostics; others get the status alone)."""
    results = {}
    ok = True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
            results[name] = {"ok": True}
        except Exception as exc:  # report any failure of a dependency, never raise
            ok = False
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    body = {"status": "ok" if ok else "unavailable"}
    if may_see_diagnostics(request):
        body["checks"] = results
    return JsonResponse(body, status=200 if ok else 503)
