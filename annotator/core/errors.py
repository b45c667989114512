"""Domain errors raised by services; the API turns each into a clear 4xx/5xx answer."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses. `status` is the HTTP status the API answers with."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None):
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
