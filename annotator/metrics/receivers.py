"""What the metrics layer does when the workflow below announces something."""

from __future__ import annotations

from annotator.annotations import events as annotation_events

from .services import outcome_on_commit


def refresh_outcome(sender, *, target, **kwargs) -> None:
    """(Re)compute the reviewed target's metrics once the review commits."""
    outcome_on_commit(target.pk)


def connect() -> None:
    annotation_events.target_reviewed.connect(refresh_outcome, dispatch_uid="metrics.outcome")
