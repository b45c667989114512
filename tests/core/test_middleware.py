"""Every middleware is async-capable, so that under ASGI no request thread waits in AsyncToSync
for an event loop (issue #17: such threads kept the stopped web server alive). The live check
(SIGTERM under load) is tests/integration/test_web_shutdown.py."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient
from django.utils.module_loading import import_string


def test_every_middleware_is_async_capable():
    sync_only = [
        path
        for path in settings.MIDDLEWARE
        if not getattr(import_string(path), "async_capable", False)
    ]
    assert sync_only == []


def test_the_asgi_handler_adapts_no_middleware(caplog):
    """Django logs each adaptation (a thread hop) at DEBUG when it builds the chain."""
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        ASGIHandler()
    adapted = [r.getMessage() for r in caplog.records if "adapted for middleware" in r.getMessage()]
    assert adapted == []


@pytest.mark.django_db(transaction=True)
def test_async_chain_keeps_request_ids_headers_and_access_log(caplog):
    client = AsyncClient()

    async def get_both():
        return (
            await client.get("/healthz", headers={"X-Request-ID": "abc-123"}),
            await client.get("/login/"),
        )

    with caplog.at_level(logging.INFO, logger="annotator.access"):
        response, page = async_to_sync(get_both)()
    assert response.status_code == 200 and response["X-Request-ID"] == "abc-123"
    assert page.status_code == 200 and "Content-Security-Policy" in page
    assert len(page["X-Request-ID"]) == 32
    routes = [getattr(r, "route", None) for r in caplog.records]
    assert "healthz" in routes and "login/" in routes
