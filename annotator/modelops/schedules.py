"""Database-backed schedules for fine-tuning rounds (django-celery-beat).

A project may have a cron schedule (e.g. nightly) and/or a threshold (start once N newly
accepted masks exist). Either way a round starts only if there is new data and no round of the
project is running; the database constraint on active rounds makes two concurrent firings start
at most one round.
"""

from __future__ import annotations

import json

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from annotator.audit.services import record
from annotator.core.errors import DomainError, InvalidInput

from . import rounds
from .models import ACTIVE_ROUND_STATUSES, RoundTrigger, TrainingRound

TASK = "annotator.modelops.tasks.scheduled_round"
KEEP = object()  # update_policy(cron=KEEP): leave the timed schedule as it is
POLICY_FIELDS = frozenset(
    {"heldout_fraction", "steps", "auto_promote", "promote_margin", "min_new_accepted",
     "nsd_tolerance_mm"}
)  # fmt: skip


def task_name(project) -> str:
    return f"training rounds: {project.slug}"


@transaction.atomic
def set_schedule(project, *, cron: str | None, min_new_accepted: int | None = None, actor=None):
    """cron: "minute hour day-of-month month day-of-week" (e.g. "0 2 * * *" nightly), or None
    to remove the timed schedule."""
    policy = rounds.policy_for(project)
    if min_new_accepted is not None:
        _check_threshold(min_new_accepted)
        policy.min_new_accepted = min_new_accepted
        policy.save(update_fields=["min_new_accepted"])
    _schedule(project, policy, cron, actor)
    return describe(project)


def _check_threshold(min_new_accepted: int) -> None:
    if min_new_accepted < 0:
        raise InvalidInput("min_new_accepted must be 0 (off) or more")


def _schedule(project, policy, cron: str | None, actor) -> None:
    """Create, change or (cron None) remove the project's beat task; audited."""
    existing = PeriodicTask.objects.filter(name=task_name(project)).first()
    if cron is None:
        if existing is not None:
            existing.delete()
    else:
        parts = cron.split()
        if len(parts) != 5:
            raise InvalidInput('cron must have 5 fields: "minute hour day month weekday"')
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=parts[0], hour=parts[1], day_of_month=parts[2], month_of_year=parts[3],
            day_of_week=parts[4],
        )  # fmt: skip
        PeriodicTask.objects.update_or_create(
            name=task_name(project),
            defaults={"task": TASK, "crontab": schedule, "args": json.dumps([project.pk]),
                      "enabled": True, "interval": None},
        )  # fmt: skip
    record("round.schedule", actor=actor, project=project, cron=cron,
           min_new_accepted=policy.min_new_accepted)  # fmt: skip


@transaction.atomic
def update_policy(project, *, actor, cron=KEEP, **fields):
    """Change a project's round policy (any of POLICY_FIELDS) and, unless cron is KEEP, its
    timed schedule. Checked here whoever calls (API or page); audited."""
    unknown = set(fields) - POLICY_FIELDS
    if unknown:
        raise InvalidInput(f"unknown round policy field(s): {sorted(unknown)}")
    policy = rounds.policy_for(project)
    for name, value in fields.items():
        setattr(policy, name, value)
    if not 0 < policy.heldout_fraction < 1 or policy.steps < 1:
        raise InvalidInput("held-out fraction must be in (0, 1) and steps at least 1")
    _check_threshold(policy.min_new_accepted)
    policy.save()
    record("round.policy", actor=actor, project=project, fields=sorted(fields))
    if cron is not KEEP:
        _schedule(project, policy, cron or None, actor)
    return policy


def describe(project) -> dict:
    task = PeriodicTask.objects.filter(name=task_name(project)).select_related("crontab").first()
    cron = None
    if task is not None and task.crontab is not None:
        c = task.crontab
        cron = f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"
    policy = rounds.policy_for(project)
    return {
        "cron": cron,
        "enabled": bool(task and task.enabled),
        "min_new_accepted": policy.min_new_accepted,
        "new_accepted": rounds.new_accepted_since_last_round(project),
        "last_run_at": task.last_run_at if task else None,
    }


def maybe_start(project, *, trigger: str = RoundTrigger.SCHEDULE) -> str:
    """Start a round if one is due: new accepted data (at least the threshold, when one is set)
    and no round running. Returns what happened."""
    if TrainingRound.objects.filter(project=project, status__in=ACTIVE_ROUND_STATUSES).exists():
        return "a round is already running"
    new = rounds.new_accepted_since_last_round(project)
    threshold = rounds.policy_for(project).min_new_accepted
    if new == 0 or (threshold and new < threshold):
        return f"not due: {new} new accepted mask(s)"
    try:
        round_ = rounds.start_round(project, trigger=trigger)
    except DomainError as exc:  # e.g. a concurrent start won, or no production model yet
        return f"not started: {exc.message}"
    return f"started round {round_.number}"


def on_case_accepted(project) -> None:
    """Called after a case is accepted: start a threshold round when enough new masks exist."""
    policy = rounds.policy_for(project)
    if policy.min_new_accepted and rounds.new_accepted_since_last_round(project) >= (
        policy.min_new_accepted
    ):
        maybe_start(project, trigger=RoundTrigger.THRESHOLD)
