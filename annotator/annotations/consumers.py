"""Websocket /ws/cases/<id>/progress: live pre-segmentation progress of one case.

On connect the consumer sends the state of the case's recent jobs from the database, then
forwards every update published to the case's group. With the in-process channel layer of the
embedded default the worker is another process, so the consumer also looks at the database
twice a second for changed jobs.
"""

from __future__ import annotations

import asyncio
import contextlib

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import InMemoryChannelLayer
from django.utils import timezone

from annotator.cases.models import Case
from annotator.cases.selectors import can_see_case

from .models import PresegmentJob
from .progress import group_name

POLL_SECONDS = 0.5
SNAPSHOT_JOBS = 20
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _may_see(user, case_id: int) -> bool:
    case = Case.objects.filter(pk=case_id).select_related("project").first()
    return case is not None and can_see_case(user, case)


@database_sync_to_async
def _jobs(case_id: int, since=None) -> list[dict]:
    qs = PresegmentJob.objects.filter(case_id=case_id).select_related("model_version")
    if since is not None:
        qs = qs.filter(updated_at__gt=since)
    return [job.as_event() for job in reversed(qs.order_by("-updated_at")[:SNAPSHOT_JOBS])]


class CaseProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        self.case_id = int(self.scope["url_route"]["kwargs"]["case_id"])
        self.group = group_name(self.case_id)
        self.poller = None
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await _may_see(user, self.case_id):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.seen = timezone.now()
        for event in await _jobs(self.case_id):
            await self.send_json({"type": "job", **event})
        if isinstance(self.channel_layer, InMemoryChannelLayer):
            self.poller = asyncio.ensure_future(self._poll())

    async def disconnect(self, code):
        if self.poller is not None:
            self.poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.poller
        with contextlib.suppress(AttributeError):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_progress(self, message):
        await self.send_json({"type": "job", **message["event"]})

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def _poll(self):
        while True:
            await asyncio.sleep(POLL_SECONDS)
            now = timezone.now()
            for event in await _jobs(self.case_id, since=self.seen):
                await self.send_json({"type": "job", **event})
            self.seen = now
