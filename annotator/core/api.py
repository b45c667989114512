"""API plumbing shared by the apps: the exception handler and small helpers."""

from __future__ import annotations

import errno
import logging
import re

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import FileResponse
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError

log = logging.getLogger(__name__)

# Broker/cache connection failures, matched by class name so this module needs neither
# kombu nor redis imported (they are optional in some processes).
_STORE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO}
_UNAVAILABLE_NAMES = {
    "OperationalError",
    "ConnectionError",
    "ConnectionRefusedError",
    "TimeoutError",
}


def unavailable_body(exc: BaseException) -> dict | None:
    """The 503 body for a backing service that failed, or None if `exc` is something else."""
    if isinstance(exc, OSError) and exc.errno in _STORE_ERRNOS:
        return {
            "detail": "The file store refused the write "
            f"({errno.errorcode.get(exc.errno, exc.errno)}). Nothing was saved and earlier "
            "revisions are intact; please retry later or tell an administrator.",
            "code": "store_unavailable",
        }
    if isinstance(exc, OperationalError | InterfaceError) or (
        not isinstance(exc, DatabaseError) and type(exc).__name__ in _UNAVAILABLE_NAMES
    ):
        return {
            "detail": "A backing service (database or queue) is briefly unavailable. "
            "Nothing was changed; please retry.",
            "code": "unavailable",
        }
    return None


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code, **exc.extra}
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    body = unavailable_body(exc)
    if body is not None:
        log.warning("service unavailable: %s: %s", type(exc).__name__, exc)
        return Response(
            body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"}
        )
    return None


def project_argument(request) -> int | None:
    """An optional `project` id from the query string or a JSON/form body (any other body shape
    is ignored rather than crashing)."""
    from rest_framework import serializers

    value = request.query_params.get("project")
    if value is None and isinstance(request.data, dict):
        value = request.data.get("project")
    if value in (None, ""):
        return None
    field = serializers.IntegerField(min_value=1)
    return field.run_validation(value)


class FileDownload(FileResponse):
    """FileResponse in 1 MiB blocks. Under ASGI each block is one message through the server's
    event loop: Django's 4 KiB default makes a 50 MB image 12,000 of them, which keeps the loop
    (and other requests) busy for most of a second."""

    block_size = 1 << 20


class SchemaAccess(BasePermission):
    """The OpenAPI schema and its docs pages: anyone in development, signed-in users in
    production (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"])."""

    def has_permission(self, request, view) -> bool:
        return not settings.PRODUCTION or bool(request.user and request.user.is_authenticated)


_ID = re.compile(r"[0-9]{1,18}")


def parse_id(value) -> int | None:
    """A database id from request input, or None: ASCII digits only (str.isdigit() also passes
    "²", which int() refuses) and short enough for a 64-bit column."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < 10**18 else None
    if isinstance(value, str) and _ID.fullmatch(value.strip()):
        return int(value.strip())
    return None


class NameField(serializers.SlugRelatedField):
    """An object named in a request (a username, a server's name). A name that cannot be stored
    is no object's name: PostgreSQL refuses a NUL character in a query, which would be a 500."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=repr(data))
        return super().to_internal_value(data)
