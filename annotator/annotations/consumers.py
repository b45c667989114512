"""Websocket /ws/cases/<id>/progress: live pre-segmentation progress of one case."""

from __future__ import annotations

from annotator.cases.models import Case
from annotator.cases.selectors import can_see_case
from annotator.core.consumers import ProgressConsumer

from .models import PresegmentJob
from .progress import group_name

SNAPSHOT_JOBS = 20


class CaseProgressConsumer(ProgressConsumer):
    url_kwarg = "case_id"

    def allowed(self, user, pk: int) -> bool:
        case = Case.objects.filter(pk=pk).select_related("project").first()
        return case is not None and can_see_case(user, case)

    def events(self, pk: int, since=None) -> list[dict]:
        qs = PresegmentJob.objects.filter(case_id=pk).select_related("model_version")
        if since is not None:
            qs = qs.filter(updated_at__gt=since)
        jobs = reversed(qs.order_by("-updated_at")[:SNAPSHOT_JOBS])
        return [{"type": "job", **job.as_event()} for job in jobs]

    def group(self, pk: int) -> str:
        return group_name(pk)

    async def job_progress(self, message):
        await self.send_events([{"type": "job", **message["event"]}])
