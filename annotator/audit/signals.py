"""Sign-ins into the audit trail (Django's auth signals)."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from annotator.core.client_ip import client_ip

from .services import record


def _client(request) -> dict:
    if request is None:
        return {}
    return {
        "ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
    }


@receiver(user_logged_in, dispatch_uid="audit-login")
def on_login(sender, request, user, **kwargs) -> None:
    record("auth.login", actor=user, **_client(request))


@receiver(user_logged_out, dispatch_uid="audit-logout")
def on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        record("auth.logout", actor=user, **_client(request))


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Only the name tried: Django has already masked the secrets, and we never keep them.
    username = str(credentials.get("username", ""))[:150]
    record("auth.login_failed", actor_label=username, username=username, **_client(request))
