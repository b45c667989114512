"""Websocket routes (live progress)."""

from django.urls import path

from annotator.annotations.consumers import CaseProgressConsumer
from annotator.modelops.consumers import RoundProgressConsumer

websocket_urlpatterns = [
    path("ws/cases/<int:case_id>/progress", CaseProgressConsumer.as_asgi()),
    path("ws/training-rounds/<int:pk>/progress", RoundProgressConsumer.as_asgi()),
]
