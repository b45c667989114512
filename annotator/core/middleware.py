"""Pages (not only the API) answer 503 with a clear message when the database, the broker or
the file store is briefly unavailable, instead of a 500."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.views.defaults import permission_denied

from .api import unavailable_body
from .errors import NotAllowed

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


class NotAllowedMiddleware:
    """Pages answer a refusal of the permission policy (NotAllowed, raised by a service or a
    page's own check) with the 403 page, as Django's PermissionDenied would. The API turns it
    into its JSON 403 itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if isinstance(exc, NotAllowed):
            return permission_denied(request, PermissionDenied(exc.message))
        return None


class ContentSecurityPolicyMiddleware:
    """Sets Content-Security-Policy on HTML pages: scripts only from this site (no inline code),
    websockets and fetches to this site, no framing. The browsable API docs (Swagger UI and
    ReDoc render with inline scripts) are exempt."""

    EXEMPT = ("/api/v1/docs/", "/api/v1/redoc/")

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if (
            self.policy
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(self.EXEMPT)
        ):
            response.setdefault("Content-Security-Policy", self.policy)
        return response
