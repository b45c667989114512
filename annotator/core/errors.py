"""Domain errors raised by services; the API turns each into a clear 4xx/5xx answer."""

from __future__ import annotations

import re
import tempfile

# An absolute path of two or more parts (not a fraction, a date or a cron step like "*/5").
_ABSOLUTE_PATH = re.compile(r"(?<![\w.*/])/(?:[\w.@+-]+/)+([\w.@+-]*)")


def _server_dirs() -> list[str]:
    from django.conf import settings

    dirs = [tempfile.gettempdir()]
    if settings.configured:
        for name in ("FILE_UPLOAD_TEMP_DIR", "MEDIA_ROOT", "MODEL_STORE", "VAR_DIR", "BASE_DIR"):
            value = getattr(settings, name, None)
            if value:
                dirs.append(str(value).rstrip("/"))
    return sorted({d for d in dirs if len(d) > 1}, key=len, reverse=True)


def without_server_paths(message: str) -> str:
    """The message with the server's file paths (upload folder, temporary names, stores) cut
    down to their last part: `/srv/var/uploads/tmpab12/checkpoint.pt` → `checkpoint.pt`."""
    if "/" not in message:
        return message
    for root in _server_dirs():
        message = re.sub(re.escape(root) + r"/(?:[^\s/'\"]+/)*", "", message)
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "(a server folder)", message)


class DomainError(Exception):
    """A request the domain refuses. `status` is the HTTP status the API answers with. Its
    message is shown to users, so server file paths in it are cut to their file name."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None):
        message = without_server_paths(message) if isinstance(message, str) else message
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}


class InvalidInput(DomainError):
    status = 400
    code = "invalid_input"


class PayloadTooLarge(DomainError):
    status = 413
    code = "too_large"


class NotAllowed(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class StaleParent(Conflict):
    code = "stale_parent"


class ServiceUnavailable(DomainError):
    status = 503
    code = "unavailable"
