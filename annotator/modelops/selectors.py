"""Reads for training rounds."""

from __future__ import annotations

from django.db.models import Expression, FloatField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from annotator.cases.ordering import DEFAULT_SAMPLE
from annotator.projects import policy

from .models import RoundPolicy, TrainingRound


def visible_rounds(user) -> QuerySet[TrainingRound]:
    return TrainingRound.objects.filter(project__in=policy.visible_projects(user))


def evaluation_share() -> Expression:
    """A case's project's held-out fraction, the share of its queue kept for the evaluation
    sample (``cases.selectors.in_queue_order``); the default where no round policy exists yet."""
    fraction = RoundPolicy.objects.filter(project_id=OuterRef("project_id")).values(
        "heldout_fraction"
    )[:1]
    return Coalesce(
        Subquery(fraction, output_field=FloatField()),
        Value(DEFAULT_SAMPLE),
        output_field=FloatField(),
    )
