"""The project's Django middleware. Every class here is async-capable as well as sync-capable.

Under ASGI a middleware that is sync only makes Django run the rest of the chain through
AsyncToSync from a worker thread. When the server stops its event loop on SIGTERM, such a thread
waits forever for a loop that is gone, and the process never exits (issue #17). So no middleware
in MIDDLEWARE may be sync only: ours subclass `Middleware` below, and static files are served by
`StaticFilesMiddleware`, an async-capable WhiteNoise. tests/core/test_middleware.py checks the
whole list.

- Pages (not only the API) answer 503 with a clear message when the database, the broker or the
  file store is briefly unavailable, instead of a 500.
- Pages answer a refusal of the permission policy with the 403 page.
- HTML pages get the Content-Security-Policy header.
"""

from __future__ import annotations

import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.views.defaults import permission_denied
from whitenoise.middleware import WhiteNoiseMiddleware

from .api import unavailable_body
from .errors import NotAllowed

log = logging.getLogger(__name__)


def adapt_mode(middleware, get_response) -> None:
    """Run `middleware` the way the chain below it runs: as a coroutine function when
    `get_response` is one (no AsyncToSync hop; see the module docstring)."""
    middleware.async_mode = iscoroutinefunction(get_response)
    if middleware.async_mode:
        markcoroutinefunction(middleware)


class Middleware:
    """Base of an async- and sync-capable middleware. Subclasses override `after` (change the
    response) and/or `process_exception` (which Django always calls synchronously)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        adapt_mode(self, get_response)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        return self.after(request, self.get_response(request))

    async def __acall__(self, request):
        return self.after(request, await self.get_response(request))

    def after(self, request, response):
        return response


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, async-capable: a static file is answered from the event loop (its lookup is
    a dict read; DEBUG's autorefresh looks at the disk), everything else goes down the chain."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, *args, **kwargs):
        super().__init__(get_response, *args, **kwargs)
        adapt_mode(self, get_response)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)


class ServiceUnavailableMiddleware(Middleware):
    def process_exception(self, request, exc):
        body = unavailable_body(exc)
        if body is None:
            return None
        log.warning("service unavailable: %s: %s", type(exc).__name__, exc)
        response = JsonResponse(body, status=503)
        response["Retry-After"] = "5"
        return response


class NotAllowedMiddleware(Middleware):
    """Pages answer a refusal of the permission policy (NotAllowed, raised by a service or a
    page's own check) with the 403 page, as Django's PermissionDenied would. The API turns it
    into its JSON 403 itself."""

    def process_exception(self, request, exc):
        if isinstance(exc, NotAllowed):
            return permission_denied(request, PermissionDenied(exc.message))
        return None


class ContentSecurityPolicyMiddleware(Middleware):
    """Sets Content-Security-Policy on HTML pages: scripts only from this site (no inline code),
    websockets and fetches to this site, no framing. The browsable API docs (Swagger UI and
    ReDoc render with inline scripts) are exempt."""

    EXEMPT = ("/api/v1/docs/", "/api/v1/redoc/")

    def __init__(self, get_response):
        from django.conf import settings

        super().__init__(get_response)
        self.policy = settings.CONTENT_SECURITY_POLICY

    def after(self, request, response):
        if (
            self.policy
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(self.EXEMPT)
        ):
            response.setdefault("Content-Security-Policy", self.policy)
        return response
