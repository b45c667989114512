"""Reads for training rounds."""

from __future__ import annotations

from django.db.models import QuerySet

from annotator.projects import policy

from .models import TrainingRound


def visible_rounds(user) -> QuerySet[TrainingRound]:
    return TrainingRound.objects.filter(project__in=policy.visible_projects(user))
