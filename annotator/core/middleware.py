"""Pages (not only the API) answer 503 with a clear message when the database, the broker or
the file store is briefly unavailable, instead of a 500."""

from __future__ import annotations

import logging

from django.http import JsonResponse

from .api import unavailable_body

log = logging.getLogger(__name__)


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        body = unavailable_body(exc)
        if body is None:
            return None
        log.warning("service unavailable: %s: %s", type(exc).__name__, exc)
        response = JsonResponse(body, status=503)
        response["Retry-After"] = "5"
        return response
