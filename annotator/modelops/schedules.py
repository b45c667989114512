"""Database-backed schedules for fine-tuning rounds (django-celery-beat).

A project may have a cron schedule (e.g. nightly) and/or a threshold (start once N newly
accepted masks exist). Either way a round starts only if there is new data and no round of the
project is running; the database constraint on active rounds makes two concurrent firings start
at most one round.
"""

from __future__ import annotations

import json
import math

from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.validators import crontab_validator

from annotator.audit.services import record
from annotator.core.errors import DomainError, InvalidInput
from annotator.registry import services
from annotator.registry.quality import KIND_NAMES, KINDS, project_kinds

from . import rounds
from .models import ACTIVE_ROUND_STATUSES, RoundTrigger, TrainingRound

TASK = "annotator.modelops.tasks.scheduled_round"
KEEP = object()  # update_policy(cron=KEEP): leave the timed schedule as it is
POLICY_FIELDS = frozenset(
    {"heldout_fraction", "steps", "auto_promote", "promote_margin", "max_dice_drop",
     "promote_error_share", "min_new_accepted", "nsd_tolerance_mm", "pseudo_per_kind",
     "pseudo_min_dice", "check_per_kind", "max_lost_share", "check_min_dice", "per_kind"}
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
    if not (isinstance(min_new_accepted, int) and 0 <= min_new_accepted <= MIN_NEW_ACCEPTED_MAX):
        raise InvalidInput(f"min_new_accepted must be 0 (off) to {MIN_NEW_ACCEPTED_MAX:,}")


CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
CRON_MAX_LENGTH = 200


def parse_cron(cron: str) -> list[str]:
    """The five fields of a valid cron expression, or InvalidInput saying what is wrong."""
    parts = cron.split() if isinstance(cron, str) and len(cron) <= CRON_MAX_LENGTH else None
    if parts is None:
        raise InvalidInput(f"cron must be at most {CRON_MAX_LENGTH} characters")
    if len(parts) != 5:
        raise InvalidInput('cron must have 5 fields: "minute hour day month weekday"')
    for name, part in zip(CRON_FIELDS, parts, strict=True):
        if len(part) > CrontabSchedule._meta.get_field(name).max_length:
            raise InvalidInput(f"cron: the {name.replace('_', ' ')} field is too long")
    try:
        crontab_validator(" ".join(parts))
    except ValidationError as exc:
        raise InvalidInput(f"cron {cron!r} is not valid: {'; '.join(exc.messages)}") from exc
    return parts


# Bounds of the round policy's numbers (the API's serializer states the same).
STEPS_RANGE = (1, 1_000_000)
PROMOTE_MARGIN_RANGE = (-1.0, 1.0)
NSD_TOLERANCE_MAX_MM = 100.0
MIN_NEW_ACCEPTED_MAX = 1_000_000
PSEUDO_PER_KIND_MAX = 1_000
MAX_DICE_DROP_MAX = 0.5


def check_policy(policy) -> None:
    """Refuse a policy no round could run with (whoever set it: API, page, admin code)."""

    def number(value) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    def finite(value) -> bool:  # NaN and infinities fail every range below
        return number(value) and math.isfinite(value)

    fraction = policy.heldout_fraction
    if not (finite(fraction) and 0 < fraction < 1):
        raise InvalidInput("held-out fraction must be between 0 and 1 (exclusive)")
    if not (number(policy.steps) and STEPS_RANGE[0] <= policy.steps <= STEPS_RANGE[1]):
        raise InvalidInput(f"steps must be between {STEPS_RANGE[0]} and {STEPS_RANGE[1]:,}")
    margin = policy.promote_margin
    low, high = PROMOTE_MARGIN_RANGE
    if not (finite(margin) and low <= margin <= high):
        raise InvalidInput(f"promote_margin must be between {low} and {high} (Dice)")
    share = policy.promote_error_share
    if not (finite(share) and 0 <= share <= 1):
        raise InvalidInput("promote_error_share must be between 0 and 1 (of the remaining error)")
    drop = policy.max_dice_drop
    if not (finite(drop) and 0 <= drop <= MAX_DICE_DROP_MAX):
        raise InvalidInput(f"max_dice_drop must be between 0 and {MAX_DICE_DROP_MAX} (Dice)")
    nsd = policy.nsd_tolerance_mm
    if not (finite(nsd) and 0 < nsd <= NSD_TOLERANCE_MAX_MM):
        raise InvalidInput(
            f"nsd_tolerance_mm must be more than 0 and at most {NSD_TOLERANCE_MAX_MM:g} mm"
        )
    _check_threshold(policy.min_new_accepted)
    for name in ("pseudo_per_kind", "check_per_kind"):
        per_kind = getattr(policy, name)
        if not (isinstance(per_kind, int) and not isinstance(per_kind, bool)
                and 0 <= per_kind <= PSEUDO_PER_KIND_MAX):  # fmt: skip
            raise InvalidInput(f"{name} must be 0 (off) to {PSEUDO_PER_KIND_MAX:,}")
    lost = policy.max_lost_share
    if not (finite(lost) and 0 <= lost <= 1):
        raise InvalidInput("max_lost_share must be between 0 and 1 (of a kind's checked cases)")
    for name in ("pseudo_min_dice", "check_min_dice"):
        trust = getattr(policy, name)
        if not (finite(trust) and 0 < trust <= 1):
            raise InvalidInput(f"{name} must be more than 0 and at most 1 (Dice)")
    if not isinstance(policy.per_kind, bool):
        raise InvalidInput("per_kind must be true or false")


def _schedule(project, policy, cron: str | None, actor) -> None:
    """Create, change or (cron None) remove the project's beat task; audited."""
    existing = PeriodicTask.objects.filter(name=task_name(project)).first()
    if cron is None:
        if existing is not None:
            existing.delete()
    else:
        parts = parse_cron(cron)
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
def update_policy(project, *, actor, cron=KEEP, dice_floor: dict | None = None, **fields):
    """Change a project's round policy (any of POLICY_FIELDS), its quality floor (`dice_floor`,
    per kind; kept in the registry) and, unless cron is KEEP, its timed schedule. Checked here
    whoever calls (API or page); audited."""
    if dice_floor:
        services.set_quality_floor(project, dice_floor, actor=actor)
    unknown = set(fields) - POLICY_FIELDS
    if unknown:
        raise InvalidInput(f"unknown round policy field(s): {sorted(unknown)}")
    policy = rounds.policy_for(project)
    for name, value in fields.items():
        setattr(policy, name, value)
    check_policy(policy)
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
    by_kind = new_by_kind(project)
    return {
        "cron": cron,
        "enabled": bool(task and task.enabled),
        "min_new_accepted": policy.min_new_accepted,
        "new_accepted": (
            sum(by_kind.values())
            if policy.per_kind
            else rounds.new_accepted_since_last_round(project)
        ),
        "new_by_kind": by_kind,  # each kind's since the last round that trained on it
        "last_run_at": task.last_run_at if task else None,
    }


def new_by_kind(project) -> dict[str, int]:
    """Per kind of image the project uses: accepted masks the last round to train on it did not
    see."""
    return {k: rounds.new_accepted_since_last_round(project, k) for k in project_kinds(project)}


def due(project) -> list[tuple[str, int]]:
    """What a round could train now and its new accepted masks: [("", n)], one model for every
    kind; with a model per kind, each kind the project uses, the most new masks first (ties in
    the order of quality.KINDS)."""
    if not rounds.policy_for(project).per_kind:
        return [("", rounds.new_accepted_since_last_round(project))]
    return most_new_first(new_by_kind(project))


def most_new_first(by_kind: dict[str, int]) -> list[tuple[str, int]]:
    """Kinds with their new masks, the most first (ties in the order of quality.KINDS)."""
    return sorted(by_kind.items(), key=lambda item: (-item[1], KINDS.index(item[0])))


def maybe_start(project, *, trigger: str = RoundTrigger.SCHEDULE) -> str:
    """Start a round if one is due: new accepted data (at least the threshold, when one is set)
    and no round running. With a model per kind, the kind with the most new masks that can make
    a round (a kind whose masks come from one case cannot yet) goes first. Returns what happened.
    """
    if TrainingRound.objects.filter(project=project, status__in=ACTIVE_ROUND_STATUSES).exists():
        return "a round is already running"
    threshold = rounds.policy_for(project).min_new_accepted
    kinds = due(project)
    ready = [(kind, new) for kind, new in kinds if new and not (threshold and new < threshold)]
    if not ready:
        return f"not due: {max(new for _, new in kinds)} new accepted mask(s)"
    refused = []
    for kind, _ in ready:
        try:
            round_ = rounds.start_round(project, trigger=trigger, kind=kind)
        except InvalidInput as exc:  # e.g. too few cases of this kind yet: the next kind may do
            refused.append(exc.message)
            continue
        except DomainError as exc:  # e.g. a concurrent start won, or no production model yet
            return f"not started: {exc.message}"
        return f"started round {round_.number}" + (f" ({KIND_NAMES[kind]})" if kind else "")
    return "not started: " + "; ".join(refused)


def on_case_accepted(project) -> None:
    """Called after a case is accepted: start a threshold round when enough new masks exist."""
    policy = rounds.policy_for(project)
    if policy.min_new_accepted and due(project)[0][1] >= policy.min_new_accepted:
        maybe_start(project, trigger=RoundTrigger.THRESHOLD)
