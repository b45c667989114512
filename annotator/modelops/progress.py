"""Publishing training-round progress to the admins watching it (Channels group per round)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def group_name(round_id: int) -> str:
    return f"round.{round_id}"


def round_event(round_) -> dict:
    return {
        "type": "round",
        "round": round_.pk,
        "number": round_.number,
        "status": round_.status,
        "progress": round_.progress,
        "message": round_.message,
        "candidate": round_.candidate_id,
    }


def publish_round(round_) -> None:
    """Best effort, like job progress: the round row is the truth."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            group_name(round_.pk), {"type": "round.progress", "event": round_event(round_)}
        )
    except Exception as exc:  # progress must never break training
        log.warning("progress for round %s not published: %s", round_.pk, exc)
