"""Base of the live-progress websockets.

On connect: authenticate, authorize, join the object's Channels group, send the current state
from the database. Then forward every update published to the group. With the in-process channel
layer of the embedded default the worker is another process, so the consumer also looks at the
database twice a second for rows changed since it last looked.

Access is checked again before every update is sent, against the user as the database has them
now (roles are cached on a user object, and the socket's lives as long as the socket): a member
removed from the project, an annotator unassigned from the case or a deactivated account gets
the socket closed with 4403 instead of the next update.
"""

from __future__ import annotations

import asyncio
import contextlib

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import InMemoryChannelLayer
from django.contrib.auth import get_user_model
from django.utils import timezone

POLL_SECONDS = 0.5
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class ProgressConsumer(AsyncJsonWebsocketConsumer):
    url_kwarg = "pk"

    # Subclasses: sync methods, run in a thread.
    def allowed(self, user, pk: int) -> bool:
        raise NotImplementedError

    def events(self, pk: int, since=None) -> list[dict]:
        raise NotImplementedError

    def group(self, pk: int) -> str:
        raise NotImplementedError

    async def connect(self):
        user = self.scope.get("user")
        self.pk = int(self.scope["url_route"]["kwargs"][self.url_kwarg])
        self.poller = None
        self.refused = False
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(self.allowed)(user, self.pk):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user_id = user.pk
        self.group_name = self.group(self.pk)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        self.seen = timezone.now()
        for event in await database_sync_to_async(self.events)(self.pk):
            await self.send_json(event)
        if isinstance(self.channel_layer, InMemoryChannelLayer):
            self.poller = asyncio.ensure_future(self._poll())

    async def disconnect(self, code):
        self.refused = True
        if self.poller is not None:
            self.poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.poller
        with contextlib.suppress(AttributeError):
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def forward(self, message):
        await self.send_events([message["event"]])

    async def send_events(self, events: list[dict]) -> None:
        """Send updates if the user may still see the object; otherwise close the socket."""
        if not events or self.refused:
            return
        if not await database_sync_to_async(self.still_allowed)():
            self.refused = True  # nothing more is sent; the poller stops
            await self.close(code=CLOSE_FORBIDDEN)
            return
        for event in events:
            await self.send_json(event)

    def still_allowed(self) -> bool:
        user = get_user_model().objects.filter(pk=self.user_id, is_active=True).first()
        return user is not None and self.allowed(user, self.pk)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_events([{"type": "pong"}])

    async def _poll(self):
        while not self.refused:
            await asyncio.sleep(POLL_SECONDS)
            now = timezone.now()
            await self.send_events(await database_sync_to_async(self.events)(self.pk, self.seen))
            self.seen = now
