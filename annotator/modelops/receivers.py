"""What the model loop does when a layer below (or the registry) announces something."""

from __future__ import annotations

from django.conf import settings

from annotator.annotations import events as annotation_events
from annotator.cases import events as case_events
from annotator.registry import events

from . import presegment, schedules


def presegment_imported(sender, *, case, actor, **kwargs) -> bool:
    """A new case with prompted targets is pre-segmented (when a production model exists)."""
    return bool(settings.AUTO_PRESEGMENT) and presegment.queue_case(case, actor=actor)


def represegment(sender, *, version, actor, **kwargs) -> None:
    presegment.represegment_unopened(version, actor=actor)


def maybe_start_round(sender, *, case, **kwargs) -> None:
    """New accepted masks may make a threshold-scheduled fine-tuning round due."""
    schedules.on_case_accepted(case.project)


def connect() -> None:
    case_events.import_committed.connect(presegment_imported, dispatch_uid="modelops.presegment")
    events.production_model_changed.connect(represegment, dispatch_uid="modelops.represegment")
    annotation_events.case_accepted.connect(maybe_start_round, dispatch_uid="modelops.rounds")
