"""Admin pages for the model loop: a project's rounds (start, schedule, live progress), one
round's comparison of candidate and production (promote, cancel), the model registry (rollback).
Members may look; admins act."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotator.core.api import parse_id
from annotator.core.errors import DomainError
from annotator.modelops import rounds, schedules
from annotator.modelops.evaluation import LOST_BELOW, disputed
from annotator.modelops.models import TrainingRound
from annotator.modelops.selectors import visible_rounds
from annotator.projects import policy
from annotator.projects.selectors import get_visible_project
from annotator.registry import quality, services
from annotator.registry.models import ModelVersion
from annotator.registry.selectors import kind_productions, production_model, serving_by_kind


def _project(request, pk):
    return get_visible_project(request.user, pk)


@login_required
def rounds_page(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    schedule = schedules.describe(project)  # it counts the new accepted masks too
    round_policy = rounds.policy_for(project)
    # With a model per kind, the form offers the kind a scheduled round would train next
    # (schedules.due's order, from the counts describe() already made).
    due = schedules.most_new_first(schedule["new_by_kind"]) if round_policy.per_kind else []
    return render(
        request,
        "modelops/rounds.html",
        {
            "project": project,
            "rounds": TrainingRound.objects.filter(project=project).select_related(
                "snapshot", "candidate", "base_model", "started_by"
            ),
            "production": production_model(project),
            "kind_productions": [  # the versions for one kind serving it, the project's or global
                (quality.KIND_NAMES[v.kind], v)
                for v in serving_by_kind(project).values()
                if v is not None and v.kind
            ],
            "kinds": [(k, quality.KIND_NAMES[k]) for k in quality.project_kinds(project)],
            "policy": round_policy,
            "next_kind": due[0][0] if due else "",
            "lost_below": LOST_BELOW,
            "floors": [
                (kind, quality.KIND_NAMES[kind], floor)
                for kind, floor in quality.floors_for(project).items()
            ],
            "schedule": schedule,
            "new_accepted": schedule["new_accepted"],
            # A round of a kind with nothing new is refused unless forced: offer it then too.
            "offer_force": not schedule["new_accepted"] or 0 in schedule["new_by_kind"].values(),
            "new_by_kind": [(quality.KIND_NAMES[k], n) for k, n in schedule["new_by_kind"].items()],
            "can_act": policy.can(request.user, "model.manage"),
        },
    )


@login_required
@require_POST
def start_round(request: HttpRequest, pk: int) -> HttpResponse:
    policy.require(request.user, "model.manage")
    project = _project(request, pk)
    steps = request.POST.get("steps") or None
    lr = request.POST.get("learning_rate") or None
    try:
        round_ = rounds.start_round(
            project,
            actor=request.user,
            steps=int(steps) if steps else None,
            learning_rate=float(lr) if lr else None,
            force=request.POST.get("force") == "on",
            kind=request.POST.get("kind", ""),
        )
        messages.success(request, f"Round {round_.number} started.")
    except (DomainError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    return redirect("modelops:rounds", pk=project.pk)


@login_required
@require_POST
def save_policy(request: HttpRequest, pk: int) -> HttpResponse:
    policy.require(request.user, "model.manage")
    project = _project(request, pk)
    current = rounds.policy_for(project)
    form = request.POST
    try:
        schedules.update_policy(
            project,
            actor=request.user,
            cron=form.get("cron", "").strip() or None,
            steps=int(form.get("steps", current.steps)),
            heldout_fraction=float(form.get("heldout_fraction", current.heldout_fraction)),
            promote_margin=float(form.get("promote_margin", current.promote_margin)),
            promote_error_share=float(form.get("promote_error_share", current.promote_error_share)),
            max_dice_drop=float(form.get("max_dice_drop", current.max_dice_drop)),
            auto_promote=form.get("auto_promote") == "on",
            min_new_accepted=int(form.get("min_new_accepted") or 0),
            pseudo_per_kind=int(form.get("pseudo_per_kind", current.pseudo_per_kind)),
            pseudo_min_dice=float(form.get("pseudo_min_dice", current.pseudo_min_dice)),
            check_per_kind=int(form.get("check_per_kind", current.check_per_kind)),
            max_lost_share=float(form.get("max_lost_share", current.max_lost_share)),
            check_min_dice=float(form.get("check_min_dice", current.check_min_dice)),
            per_kind=form.get("per_kind") == "on",
            dice_floor={
                kind: float(form[f"floor_{kind}"])
                for kind in quality.KINDS
                if form.get(f"floor_{kind}", "").strip()
            },
        )
        messages.success(request, "Round policy and schedule saved.")
    except (DomainError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    return redirect("modelops:rounds", pk=project.pk)


@login_required
def round_page(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = get_object_or_404(
        visible_rounds(request.user).select_related(
            "project", "snapshot", "candidate", "base_model"
        ),
        pk=pk,
    )
    metrics = round_.metrics or {}
    cand, prod = metrics.get("candidate") or {}, metrics.get("production") or {}
    labels = sorted(set(cand.get("labels", {})) | set(prod.get("labels", {})))
    comparison = [
        {
            "label": label,
            "n": (cand.get("labels", {}).get(label) or {}).get("n"),
            "cand": cand.get("labels", {}).get(label) or {},
            "prod": prod.get("labels", {}).get(label) or {},
        }
        for label in labels
    ]
    prod_by_target = {t["target"]: t for t in prod.get("targets", [])}
    targets = [
        {"cand": t, "prod": prod_by_target.get(t["target"], {})} for t in cand.get("targets", [])
    ]
    return render(
        request,
        "modelops/round.html",
        {
            "round": round_,
            "project": round_.project,
            "summary": {"cand": cand.get("summary", {}), "prod": prod.get("summary", {})},
            "comparison": comparison,
            "targets": targets,
            "gate": metrics.get("gate"),
            "pseudo": _pseudo_used(round_),
            "check": _check(metrics.get("check"), round_.config.get("check_min_dice")),
            "problems": (
                quality.promotion_problems(round_.candidate)
                if round_.candidate and round_.status == "candidate"
                else []
            ),
            "can_act": policy.can(request.user, "model.manage"),
        },
    )


def _check(check: dict | None, bar: float | None) -> dict | None:
    """The forgetting check's rows per kind of data, once the round ran it, and the held-out
    Dice a kind needed to be checked (None: a round from before the setting, checked at the
    pseudo-labels' bar)."""
    if check is None:
        return None
    kinds = [{"name": quality.KIND_NAMES.get(kind, kind), **figures}
             for kind, figures in (check.get("kinds") or {}).items()]  # fmt: skip
    lost = [
        {**row, "kind_name": quality.KIND_NAMES.get(row["kind"], row["kind"]),
         "disputed": disputed(row),
         "flag_names": ", ".join(c.replace("_", " ") for c in row.get("candidate_flags") or [])}
        for row in sorted(check.get("targets") or [], key=lambda r: r["agreement"])
        if row["agreement"] < LOST_BELOW
    ]  # fmt: skip
    return {"kinds": kinds, "below": LOST_BELOW, "bar": bar, "lost": lost}


def _pseudo_used(round_) -> dict | None:
    """What the round trained on of its pseudo-labels, once training started."""
    replay = (round_.config or {}).get("replay") or {}
    if "pseudo_labels" not in replay:
        return None
    return {
        "count": replay["pseudo_labels"],
        "kinds": [quality.KIND_NAMES.get(k, k) for k in replay.get("trusted_kinds", [])],
        "bar": round_.config.get("pseudo_min_dice"),
    }


@login_required
@require_POST
def round_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    policy.require(request.user, "model.manage")
    round_ = get_object_or_404(visible_rounds(request.user), pk=pk)
    try:
        if action == "promote":
            rounds.promote_round(
                round_,
                actor=request.user,
                reason="promoted from the round page",
                override=request.POST.get("override", ""),
            )
            messages.success(request, f"Round {round_.number}'s model is now in production.")
        elif action == "cancel":
            rounds.cancel_round(round_, actor=request.user)
            messages.success(request, "Cancellation requested.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("modelops:round", pk=round_.pk)


def _serving_labels(project) -> dict[int, str]:
    """Version id -> what it serves in the project: "serves this project", "serves echo" (a
    version for one kind), "serves the other kinds" (the version for every kind beside some)."""
    served = {v for v in serving_by_kind(project).values() if v is not None}
    if len(served) == 1:
        return {next(iter(served)).pk: "serves this project"}
    return {
        v.pk: "serves the other kinds" if not v.kind else f"serves {quality.KIND_NAMES[v.kind]}"
        for v in served
    }


@login_required
def models_page(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    versions = ModelVersion.objects.filter(project__in=[project.pk]) | ModelVersion.objects.filter(
        project__isnull=True
    )
    cache: dict = {}
    serving = _serving_labels(project)
    by_kind = kind_productions(project)
    rows = [
        {"v": v, "serves": serving.get(v.pk, ""), "kind_name": quality.KIND_NAMES.get(v.kind, ""),
         **quality.summary(v, cache)}
        for v in versions.select_related("parent", "project").order_by("-created_at")
    ]  # fmt: skip
    return render(
        request,
        "modelops/models.html",
        {
            "project": project,
            "rows": rows,
            "rollback_kinds": [(v.kind, quality.KIND_NAMES[v.kind]) for v in by_kind],
            "can_act": policy.can(request.user, "model.manage"),
        },
    )


@login_required
@require_POST
def model_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    policy.require(request.user, "model.manage")
    project = _project(request, pk)
    try:
        if action == "rollback":
            kind = quality.check_kind(request.POST.get("kind", ""))
            version = services.rollback(project, actor=request.user, kind=kind)
            messages.success(request, f"Production is back to {version.name}.")
        elif action == "promote":
            version = get_object_or_404(ModelVersion, pk=parse_id(request.POST.get("version")))
            if version.project_id not in (None, project.pk):
                raise PermissionDenied("that model belongs to another project")
            services.promote(
                version,
                actor=request.user,
                reason="promoted from the models page",
                override=request.POST.get("override", ""),
            )
            messages.success(request, f"{version.name} is now in production.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("modelops:models", pk=project.pk)
