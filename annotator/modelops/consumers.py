"""Websocket /ws/training-rounds/<id>/progress: live progress of a fine-tuning round."""

from __future__ import annotations

from annotator.core.consumers import ProgressConsumer

from .models import TrainingRound
from .progress import group_name, round_event
from .selectors import visible_rounds


class RoundProgressConsumer(ProgressConsumer):
    def allowed(self, user, pk: int) -> bool:
        return visible_rounds(user).filter(pk=pk).exists()

    def events(self, pk: int, since=None) -> list[dict]:
        qs = TrainingRound.objects.filter(pk=pk)
        if since is not None:
            qs = qs.filter(updated_at__gt=since)
        return [round_event(r) for r in qs]

    def group(self, pk: int) -> str:
        return group_name(pk)

    async def round_progress(self, message):
        await self.forward(message)
