"""Publishing job progress to the browsers watching a case (Channels group per case)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def group_name(case_id: int) -> str:
    return f"case.{case_id}"


def publish(job) -> None:
    """Best effort: the job row in the database is the truth; a lost message is caught up by
    the consumer's snapshot on (re)connect."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            group_name(job.case_id), {"type": "job.progress", "event": job.as_event()}
        )
    except Exception as exc:  # a broken channel layer must never fail the job itself
        log.warning("progress for job %s not published: %s", job.pk, exc)
