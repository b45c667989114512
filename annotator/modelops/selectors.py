"""Reads for training rounds."""

from __future__ import annotations

from django.db.models import Expression, F, FloatField, QuerySet, Value
from django.db.models.functions import Coalesce

from annotator.cases.ordering import DEFAULT_SAMPLE
from annotator.projects import policy

from .models import TrainingRound


def visible_rounds(user) -> QuerySet[TrainingRound]:
    return TrainingRound.objects.filter(project__in=policy.visible_projects(user))


def evaluation_share() -> Expression:
    """A case's project's held-out fraction, the share of its queue kept for the evaluation
    sample (``cases.selectors.in_queue_order``); the default where no round policy exists yet.
    A join, not a subquery: the queue reads it in several of its expressions."""
    return Coalesce(
        F("project__round_policy__heldout_fraction"),
        Value(DEFAULT_SAMPLE),
        output_field=FloatField(),
    )
