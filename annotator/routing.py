"""Websocket routes (live progress)."""

from django.urls import path

from annotator.annotations.consumers import CaseProgressConsumer

websocket_urlpatterns = [
    path("ws/cases/<int:case_id>/progress", CaseProgressConsumer.as_asgi()),
]
