"""What the metrics layer does when the workflow below announces something."""

from __future__ import annotations

from annotator.annotations import events as annotation_events

from .models import TargetOutcome
from .services import outcome_on_commit


def refresh_outcome(sender, *, target, **kwargs) -> None:
    """(Re)compute the reviewed target's metrics once the review commits."""
    outcome_on_commit(target.pk)


def drop_outcome(sender, *, target, **kwargs) -> None:
    """A deleted target leaves the figures: its outcome row (if any) goes; its revisions and
    reviews stay in the annotation layer."""
    TargetOutcome.objects.filter(target=target).delete()


def connect() -> None:
    annotation_events.target_reviewed.connect(refresh_outcome, dispatch_uid="metrics.outcome")
    annotation_events.target_deleted.connect(drop_outcome, dispatch_uid="metrics.deleted")
