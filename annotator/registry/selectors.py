"""Reads for the model registry."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from annotator.projects import policy

from .models import ModelStatus, ModelVersion, StarterRun, StarterStatus
from .quality import project_kinds


def production_model(project, kind: str = "") -> ModelVersion | None:
    """What serves ``kind`` of image (quality.kind_of) in the project, the first there is of:
    the project's production version for that kind, its version for every kind, the global
    version for that kind, the global version for every kind. A project's own version comes
    first because it learnt from its data. Without a kind: the versions for every kind."""
    scope = Q(project__isnull=True)
    if project is not None:
        scope |= Q(project=project)
    versions = ModelVersion.objects.filter(
        scope, status=ModelStatus.PRODUCTION, kind__in={"", kind}
    )
    found = {(v.project_id is not None, v.kind): v for v in versions}
    for key in ((True, kind), (True, ""), (False, kind), (False, "")):
        if key in found:
            return found[key]
    return None


def serving_by_kind(project) -> dict[str, ModelVersion | None]:
    """For each kind of data the project uses, the version that serves it."""
    return {kind: production_model(project, kind) for kind in project_kinds(project)}


def kind_productions(project) -> list[ModelVersion]:
    """The project's production versions for one kind of image each, by kind."""
    if project is None:
        return []
    return list(
        ModelVersion.objects.filter(project=project, status=ModelStatus.PRODUCTION)
        .exclude(kind="")
        .order_by("kind")
    )


def visible_models(user) -> QuerySet[ModelVersion]:
    """Global default models and those of the user's projects."""
    return ModelVersion.objects.filter(
        Q(project__isnull=True) | Q(project__in=policy.visible_projects(user))
    ).select_related("project")


# ---------------------------------------------------------------- the starter model's training

STARTER_ACTIVE = (StarterStatus.QUEUED, StarterStatus.TRAINING, StarterStatus.EVALUATING)
STARTER_SHOWN_AFTER = timedelta(minutes=10)  # a finished run stays on the models page this long


def describe_starter(run_: StarterRun) -> str:
    """One line for a terminal: the run's progress or outcome."""
    if run_.status == StarterStatus.DONE:
        return f"starter model: {run_.message}"
    if run_.status == StarterStatus.FAILED:
        return f"starter model: training failed: {run_.message}"
    if run_.status == StarterStatus.QUEUED or not run_.step:
        return f"starter model: {run_.status} ({run_.step}/{run_.total} steps)"
    if run_.status == StarterStatus.EVALUATING:
        return f"starter model: trained {run_.total} steps; evaluating on held-out phantoms"
    eta = f", about {run_.eta_s / 60:.1f} min left" if run_.eta_s else ""
    loss = f", loss {run_.loss:.3f}" if run_.loss is not None else ""
    resumed = f" (resumed after step {run_.resumed_from})" if run_.resumed_from else ""
    return f"starter model: step {run_.step}/{run_.total}{resumed}{loss}{eta}"


def starter_progress() -> dict | None:
    """The latest starter run for the models page: unfinished, failed, or finished in the last
    ten minutes (after that its version in the table says it all); else None."""
    run_ = StarterRun.objects.first()
    if run_ is None:
        return None
    active = run_.status in STARTER_ACTIVE
    recent = run_.finished_at and timezone.now() - run_.finished_at < STARTER_SHOWN_AFTER
    if not active and run_.status != StarterStatus.FAILED and not recent:
        return None
    return {
        "id": run_.pk,
        "status": run_.status,
        "status_display": run_.get_status_display(),
        "active": active,
        "step": run_.step,
        "total": run_.total,
        "loss": run_.loss,
        "eta_s": run_.eta_s,
        "line": describe_starter(run_),
        "reason": run_.reason,
        "updated_at": run_.updated_at.isoformat(),
    }
