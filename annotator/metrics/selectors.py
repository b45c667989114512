"""Reads for the analytics: project figures aggregated in the database from TargetOutcome rows.

Every figure is one aggregate per group (project, annotator, day, model round, label); Python
only derives ratios from the few aggregated rows. Definitions: docs/metrics.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, F, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from annotator.annotations.models import MaskRevision, RevisionSource, Target
from annotator.cases.models import CaseStatus
from annotator.projects import policy
from annotator.projects.models import Project
from annotator.registry.models import ModelVersion

from .aggregates import Median
from .models import Export, TargetOutcome

# A measured manual baseline needs at least this many targets annotated without AI (with a
# reported active time); below it the project's manual_seconds_per_target is used.
MIN_MANUAL_TARGETS = 20

# Aggregates computed for every group.
_AGGREGATES = {
    "targets": Count("id"),
    "cases": Count("case", distinct=True),
    "ai_targets": Count("id", filter=Q(ai_assisted=True)),
    "timed_targets": Count("id", filter=Q(active_seconds__isnull=False)),
    "sum_active": Sum("active_seconds"),
    "mean_active_seconds": Avg("active_seconds"),
    "median_active_seconds": Median("active_seconds"),
    "median_wall_seconds": Median("wall_seconds"),
    "sum_rework": Sum("rework_active_seconds"),
    "mean_dice": Avg("dice"),
    "mean_changed_fraction": Avg("changed_fraction"),
    "unchanged": Count("id", filter=Q(accepted_unchanged=True)),
    "sum_revisions": Sum("human_revisions"),
    "sum_reprompts": Sum("reprompts"),
    "sum_rejections": Sum("rejections"),
    "reworked": Count("id", filter=Q(rejections__gt=0)),
    # Time saved counts AI-assisted targets whose model mask passed the pre-segmentation checks;
    # a flagged one (empty, off its box, ...) is counted apart (docs/metrics.md).
    "ai_timed_targets": Count(
        "id", filter=Q(ai_assisted=True, model_flagged=False, active_seconds__isnull=False)
    ),
    "ai_active_seconds": Sum("active_seconds", filter=Q(ai_assisted=True, model_flagged=False)),
    "flagged_targets": Count("id", filter=Q(ai_assisted=True, model_flagged=True)),
}

# The figures of one group, in the order of the API and the CSV columns.
FIGURES = [
    "targets",
    "cases",
    "ai_targets",
    "timed_targets",
    "active_hours",
    "throughput_per_hour",
    "median_active_seconds",
    "mean_active_seconds",
    "median_wall_seconds",
    "rework_active_seconds",
    "mean_dice",
    "mean_changed_fraction",
    "unchanged",
    "unchanged_rate",
    "flagged_targets",
    "flagged_rate",
    "revisions_per_target",
    "reprompts_per_target",
    "rejections",
    "rework_rate",
    "baseline_seconds",
    "time_saved_seconds",
    "time_saved_hours",
    "time_saved_percent",
]


@dataclass(frozen=True)
class Baseline:
    seconds: float
    source: str  # "measured" or "project"
    project_seconds: float
    measured_seconds: float | None
    manual_targets: int

    def as_dict(self) -> dict:
        return {
            "seconds": _round(self.seconds),
            "source": self.source,
            "project_seconds": _round(self.project_seconds),
            "measured_seconds": _round(self.measured_seconds),
            "manual_targets": self.manual_targets,
            "min_manual_targets": MIN_MANUAL_TARGETS,
        }


@dataclass(frozen=True)
class Filters:
    since: dt.date | None = None
    until: dt.date | None = None
    annotator: int | None = None

    def apply(self, qs: QuerySet[TargetOutcome]) -> QuerySet[TargetOutcome]:
        if self.since:
            qs = qs.filter(accepted_on__gte=self.since)
        if self.until:
            qs = qs.filter(accepted_on__lte=self.until)
        if self.annotator:
            qs = qs.filter(annotator_id=self.annotator)
        return qs

    def as_dict(self) -> dict:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "annotator": self.annotator,
        }


def _round(value, digits: int = 4):
    return round(value, digits) if isinstance(value, float) else value


def outcomes(project: Project, filters: Filters | None = None) -> QuerySet[TargetOutcome]:
    qs = TargetOutcome.objects.filter(project=project)
    return filters.apply(qs) if filters else qs


def baseline(project: Project) -> Baseline:
    """Manual seconds per target: measured (median active time of targets annotated without
    AI) when the project has at least MIN_MANUAL_TARGETS of them, else the project setting."""
    manual = TargetOutcome.objects.filter(
        project=project, ai_assisted=False, active_seconds__isnull=False
    ).aggregate(n=Count("id"), median=Median("active_seconds"))
    configured = float(project.manual_seconds_per_target)
    measured = manual["median"]
    if manual["n"] >= MIN_MANUAL_TARGETS and measured is not None:
        return Baseline(float(measured), "measured", configured, float(measured), manual["n"])
    return Baseline(configured, "project", configured, measured, manual["n"])


def _derive(row: dict, base: Baseline) -> dict:
    """Ratios from one group's aggregates (no per-row work)."""
    targets = row["targets"] or 0
    active = row["sum_active"]
    ai_timed = row["ai_timed_targets"] or 0
    manual_equivalent = base.seconds * ai_timed
    saved = manual_equivalent - (row["ai_active_seconds"] or 0.0) if ai_timed else 0.0
    figures = {
        "targets": targets,
        "cases": row["cases"],
        "ai_targets": row["ai_targets"],
        "timed_targets": row["timed_targets"],
        "active_hours": active / 3600 if active is not None else None,
        "throughput_per_hour": row["timed_targets"] / (active / 3600) if active else None,
        "median_active_seconds": row["median_active_seconds"],
        "mean_active_seconds": row["mean_active_seconds"],
        "median_wall_seconds": row["median_wall_seconds"],
        "rework_active_seconds": row["sum_rework"],
        "mean_dice": row["mean_dice"],
        "mean_changed_fraction": row["mean_changed_fraction"],
        "unchanged": row["unchanged"],
        "unchanged_rate": row["unchanged"] / row["ai_targets"] if row["ai_targets"] else None,
        "flagged_targets": row["flagged_targets"],
        "flagged_rate": row["flagged_targets"] / row["ai_targets"] if row["ai_targets"] else None,
        "revisions_per_target": (row["sum_revisions"] or 0) / targets if targets else None,
        "reprompts_per_target": (row["sum_reprompts"] or 0) / targets if targets else None,
        "rejections": row["sum_rejections"] or 0,
        "rework_rate": row["reworked"] / targets if targets else None,
        "baseline_seconds": base.seconds,
        "time_saved_seconds": float(saved),
        "time_saved_hours": saved / 3600,
        "time_saved_percent": 100.0 * saved / manual_equivalent if manual_equivalent else None,
    }
    return {k: _round(float(v) if isinstance(v, float) else v) for k, v in figures.items()}


def _group(qs, fields: list[str], base: Baseline) -> list[tuple[dict, dict]]:
    rows = qs.values(*fields).annotate(**_AGGREGATES).order_by(*fields)
    return [(row, _derive(row, base)) for row in rows]


def _round_label(version: ModelVersion | None) -> str:
    if version is None:
        return "without AI"
    if version.round_number is not None:
        return f"round {version.round_number} ({version.name})"
    return version.name


def project_metrics(project: Project, filters: Filters | None = None) -> dict:
    """All the figures of a project: summary and the per-annotator, per-day and per-model-round
    breakdowns (the dashboard, the API and the CSV read this)."""
    filters = filters or Filters()
    base = baseline(project)
    qs = outcomes(project, filters)
    summary = _derive(qs.aggregate(**_AGGREGATES), base)
    # Group by the indexed id columns only; names come from one small query each.
    annotator_rows = _group(qs, ["annotator"], base)
    names = dict(
        get_user_model()
        .objects.filter(pk__in=[r["annotator"] for r, _ in annotator_rows])
        .values_list("pk", "username")
    )
    by_annotator = sorted(
        (
            {"key": row["annotator"], "label": names.get(row["annotator"], "(unknown)"), **fig}
            for row, fig in annotator_rows
        ),
        key=lambda r: (r["label"], r["key"] or 0),
    )
    by_day = [
        {"key": row["accepted_on"].isoformat(), "label": row["accepted_on"].isoformat(), **fig}
        for row, fig in _group(qs, ["accepted_on"], base)
    ]
    round_rows = _group(qs, ["model_version"], base)
    versions = {
        v.pk: v
        for v in ModelVersion.objects.filter(pk__in=[r["model_version"] for r, _ in round_rows])
    }
    by_round = [
        {
            "key": row["model_version"],
            "label": _round_label(versions.get(row["model_version"])),
            "round": getattr(versions.get(row["model_version"]), "round_number", None),
            **fig,
        }
        for row, fig in round_rows
    ]
    # Rounds in order: without AI first, then versions without a round number, then by round.
    by_round.sort(key=lambda r: (r["key"] is not None, r["round"] is not None, r["round"] or 0))
    return {
        "project": {"id": project.pk, "name": project.name, "slug": project.slug},
        "generated_at": timezone.now().isoformat(),
        "filters": filters.as_dict(),
        "baseline": base.as_dict(),
        "outcomes_pending": outcomes_pending(project),
        "figures": FIGURES,
        "summary": summary,
        "by_annotator": by_annotator,
        "by_day": by_day,
        "by_round": by_round,
        "model_checks": model_checks(project),
    }


def model_checks(project: Project) -> list[dict]:
    """Per model version: the model masks it made in the project (every pre-segmentation and
    re-prompt, accepted or not, whatever the date filters), how many were flagged, their share,
    and the count per check (inference.qc codes). One query."""
    rows = MaskRevision.objects.filter(
        target__case__project=project, source=RevisionSource.MODEL
    ).values_list("model_version", "flags")
    groups: dict[int | None, dict] = {}
    for version_id, flags in rows.iterator():
        group = groups.setdefault(version_id, {"masks": 0, "flagged": 0, "codes": {}})
        group["masks"] += 1
        if flags:
            group["flagged"] += 1
            for code in {f.get("code") for f in flags}:
                group["codes"][code] = group["codes"].get(code, 0) + 1
    versions = {v.pk: v for v in ModelVersion.objects.filter(pk__in=[k for k in groups if k])}
    out = [
        {
            "key": key,
            "label": _round_label(versions.get(key)) if key else "(deleted model)",
            "round": getattr(versions.get(key), "round_number", None),
            "masks": g["masks"],
            "flagged": g["flagged"],
            "flagged_rate": _round(g["flagged"] / g["masks"]),
            "codes": dict(sorted(g["codes"].items())),
        }
        for key, g in groups.items()
    ]
    out.sort(key=lambda r: (r["round"] is not None, r["round"] or 0, r["key"] or 0))
    return out


def outcomes_pending(project: Project) -> int:
    """Targets of accepted cases whose outcome is not computed yet (a queued task, or lost)."""
    return Target.objects.filter(
        case__project=project, case__status=CaseStatus.ACCEPTED, outcome__isnull=True
    ).count()


def metric_rows(data: dict) -> list[dict]:
    """The metrics as flat rows (group, key, label, figures...), as the CSV has them."""
    rows = [{"group": "project", "key": data["project"]["id"], "label": data["project"]["name"],
             **data["summary"]}]  # fmt: skip
    for group in ("annotator", "day", "round"):
        rows += [{"group": group, **row} for row in data[f"by_{group}"]]
    return rows


METRIC_COLUMNS = ["group", "key", "label", "round", *FIGURES]

# Per-target rows (the table under the dashboard and its CSV).
TARGET_COLUMNS = [
    "target",
    "case",
    "study_id",
    "label",
    "annotator_username",
    "reviewer_username",
    "model_name",
    "model_round",
    "ai_assisted",
    "first_opened_at",
    "first_submitted_at",
    "accepted_at",
    "active_seconds",
    "rework_active_seconds",
    "wall_seconds",
    "case_wall_seconds",
    "dice",
    "changed_fraction",
    "changed_voxels",
    "model_voxels",
    "accepted_voxels",
    "accepted_unchanged",
    "model_flagged",
    "human_revisions",
    "model_revisions",
    "reprompts",
    "rejections",
    "accepted_revision",
]
_TARGET_ALIASES = {
    "study_id": F("case__study_id"),
    "annotator_username": F("annotator__username"),
    "reviewer_username": F("reviewer__username"),
    "model_name": F("model_version__name"),
}


def target_rows(project: Project, filters: Filters | None = None) -> QuerySet:
    fields = [c for c in TARGET_COLUMNS if c not in _TARGET_ALIASES]
    return (
        outcomes(project, filters)
        .order_by("accepted_at", "target_id")
        .values(*fields, **_TARGET_ALIASES)
    )


CASE_COLUMNS = [
    "case",
    "study_id",
    "annotator_username",
    "targets",
    "unchanged_targets",
    "opened_at",
    "submitted_at",
    "case_accepted_at",
    "open_to_submit_seconds",
    "total_active_seconds",
    "total_rework_seconds",
    "mean_dice",
    "total_revisions",
    "total_reprompts",
    "total_rejections",
    "times_sent_back",
]


def case_rows(project: Project, filters: Filters | None = None) -> QuerySet:
    """Per case: its targets' outcomes summed (times) or averaged (Dice)."""
    return (
        outcomes(project, filters)
        .values("case")
        .annotate(
            study_id=Min("case__study_id"),
            annotator_username=Max("annotator__username"),
            targets=Count("id"),
            unchanged_targets=Count("id", filter=Q(accepted_unchanged=True)),
            opened_at=Min("first_opened_at"),
            submitted_at=Min("first_submitted_at"),
            case_accepted_at=Max("accepted_at"),
            open_to_submit_seconds=Max("case_wall_seconds"),
            total_active_seconds=Sum("active_seconds"),
            total_rework_seconds=Sum("rework_active_seconds"),
            mean_dice=Avg("dice"),
            total_revisions=Sum("human_revisions"),
            total_reprompts=Sum("reprompts"),
            total_rejections=Sum("rejections"),
            times_sent_back=Max("case_rejections"),
        )
        .order_by("case_accepted_at", "case")
    )


def managed_exports(user) -> QuerySet[Export]:
    """Exports of the projects where ``user`` may export (policy "metrics.export")."""
    qs = Export.objects.select_related("requested_by", "project")
    if user.is_staff:
        return qs
    return qs.filter(
        project__memberships__user=user,
        project__memberships__role__in=policy.granted_roles("metrics.export"),
    ).distinct()


def visible_exports(user) -> QuerySet[Export]:
    return Export.objects.filter(project__in=policy.visible_projects(user)).select_related(
        "project"
    )
