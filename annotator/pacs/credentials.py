"""Server secrets: Fernet-encrypted with a key derived from SECRET_KEY, or read from an
environment variable. Never returned by the API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from annotator.core.errors import InvalidInput


def _fernet() -> Fernet:
    digest = hmac.new(settings.SECRET_KEY.encode(), b"dicomweb-secrets", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode() if secret else ""


def secret_of(server) -> str:
    """The server's password or token ('' when it has none)."""
    if server.secret_env:
        value = os.environ.get(server.secret_env)
        if value is None:
            raise InvalidInput(
                f"DICOMweb server {server.name}: the environment variable {server.secret_env} "
                "that holds its secret is not set on this server",
                code="dicomweb_secret_missing",
            )
        return value
    if not server.secret_token:
        return ""
    try:
        return _fernet().decrypt(server.secret_token.encode()).decode()
    except InvalidToken:
        raise InvalidInput(
            f"DICOMweb server {server.name}: its stored secret cannot be decrypted (SECRET_KEY "
            "changed?); an admin must enter it again",
            code="dicomweb_secret_unreadable",
        ) from None
