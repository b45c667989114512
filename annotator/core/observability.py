"""Request ids, structured logs and Prometheus metrics.

- Every request gets an id (the proxy's X-Request-ID, or a new one), echoed in the response and
  attached to every log record written while it is handled.
- LOG_FORMAT=json writes one JSON object per line (the default in production).
- Access lines carry method, route pattern, status, duration and user id: never query strings,
  bodies or names (no patient identifier reaches the logs).
- REGISTRY (Prometheus): request latency by route, queue depth, pre-segmentation and training
  outcomes and durations (from the database, so every worker machine is counted); served at
  /metrics by core.health.metrics, which decides who may read it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid

from django.conf import settings
from django.utils.functional import LazyObject, empty
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily

from .middleware import adapt_mode

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("annotator.access")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    FIELDS = ("method", "route", "status", "duration_ms", "user_id")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


REGISTRY = CollectorRegistry()
REQUEST_SECONDS = Histogram(
    "annotator_http_request_duration_seconds",
    "HTTP request latency by route pattern",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30),
)


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


def _user_id(request) -> int | None:
    """The user's id if the request has loaded its user; never loads it here (that is a
    database query, which the event loop must not make)."""
    user = getattr(request, "user", None)
    if isinstance(user, LazyObject) and user._wrapped is empty:
        return None
    return getattr(user, "pk", None)


class RequestIdMiddleware:
    """Async- and sync-capable (see core.middleware: no middleware may be sync only)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        adapt_mode(self, get_response)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        token, started = self._begin(request)
        try:
            return self._end(request, self.get_response(request), started)
        finally:
            request_id_var.reset(token)

    async def __acall__(self, request):
        token, started = self._begin(request)
        try:
            return self._end(request, await self.get_response(request), started)
        finally:
            request_id_var.reset(token)

    def _begin(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming[:64] if incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        request.request_id = rid
        return request_id_var.set(rid), time.monotonic()

    def _end(self, request, response, started: float):
        elapsed = time.monotonic() - started
        route = _route(request)
        REQUEST_SECONDS.labels(request.method, route, str(response.status_code)).observe(elapsed)
        response["X-Request-ID"] = request.request_id
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            route,
            response.status_code,
            elapsed * 1000,
            extra={
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
                "user_id": _user_id(request),
            },
        )
        return response


QUEUES = ("gpu", "training", "default")


class QueueCollector:
    """Tasks waiting in each Celery queue, read from the broker at scrape time. The apps add
    their own collectors (e.g. modelops.collectors) to REGISTRY when they are ready."""

    def collect(self):
        queue = GaugeMetricFamily(
            "annotator_queue_depth", "Tasks waiting in each Celery queue", labels=["queue"]
        )
        for name, depth in queue_depths().items():
            queue.add_metric([name], depth)
        yield queue


def queue_depths() -> dict[str, int]:
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith("redis"):
            import redis

            client = redis.Redis.from_url(url, socket_timeout=2)
            return {q: int(client.llen(q)) for q in QUEUES}
        if url.startswith("filesystem"):
            from pathlib import Path

            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            pending = [p.name for p in folder.glob("*.msg")]
            return {q: sum(1 for n in pending if f"_{q}." in n or n.endswith(f"{q}.msg"))
                    for q in QUEUES}  # fmt: skip
    except Exception:  # an unreachable broker shows as missing depth, not a failed scrape
        return {}
    return {}


REGISTRY.register(QueueCollector())
