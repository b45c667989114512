"""Reads for the annotation workflow: targets a user may see, cases with their assignee and
target count (what the case API and the pages show), and the filters over them."""

from __future__ import annotations

import numpy as np
from django.core.files.storage import default_storage
from django.db.models import Count, FloatField, Prefetch, Q, QuerySet
from django.db.models.expressions import OuterRef, Subquery
from django.db.models.fields.json import JSONField
from django.http import Http404
from django_filters import rest_framework as filters

from annotator.cases.models import Case, CaseStatus
from annotator.cases.selectors import as_window, can_see_case, input_window

from . import masks
from .models import Assignment, Decision, MaskRevision, Review, RevisionSource, Target

# A case's targets, deleted ones left out (a join does not go through Target.objects).
LIVE_TARGET_COUNT = Count("targets", filter=Q(targets__deleted_at__isnull=True), distinct=True)


def get_visible_target(user, pk) -> Target:
    """The target, or 404 when it does not exist or its case is not visible to ``user``.

    One lookup by primary key and a policy check (what visible_cases() filters on), rather than
    a DISTINCT query over every case the user may see: this runs on every mask save.
    """
    target = (
        Target.objects.select_related("case__project", "case__image", "head").filter(pk=pk).first()
    )
    if target is None or not can_see_case(user, target.case):
        raise Http404("No Target matches the given query.")
    return target


def revision_mask(revision: MaskRevision) -> np.ndarray:
    """A stored revision's mask as (z, y, x) uint8 0/1."""
    with default_storage.open(revision.file.name, "rb") as fh:
        return masks.decode_stored(fh.read())


def target_window(target: Target, options: dict | None = None):
    """The intensity window of the model's input for a target, one rule for pre-segmentation,
    round training and round evaluation: an explicit option (a re-run with another window), the
    target's own (targets CSV, API), the project's default, the CT image's own, else None."""
    options = options or {}
    if not options.get("window") and target.window:
        return as_window(target.window)
    return input_window(target.case, options)


def latest_model_revision(target_ref="pk") -> Subquery:
    """The latest model revision of a target (``OuterRef(target_ref)``), as a subquery."""
    return MaskRevision.objects.filter(
        target=OuterRef(target_ref), source=RevisionSource.MODEL
    ).order_by("-created_at", "-id")


def with_flags(qs: QuerySet[Target]) -> QuerySet[Target]:
    """Targets with the pre-segmentation checks of their latest model mask: ``model_flags``
    (``MaskRevision.flags``, None without a model mask) and ``flags_revision`` (its id)."""
    latest = latest_model_revision()
    return qs.annotate(
        model_flags=Subquery(latest.values("flags")[:1], output_field=JSONField()),
        flags_revision=Subquery(latest.values("pk")[:1]),
    )


def case_uncertainty() -> Subquery:
    """A case's uncertainty (``OuterRef("pk")`` is the case): the highest ``uncertainty`` among
    its live targets' latest model masks, null when none has one. The queues order by it
    (cases.selectors.in_queue_order, through provide_case_uncertainty in apps.py); one
    correlated subquery, no query per case."""
    latest = latest_model_revision().values("uncertainty")[:1]
    per_target = (
        Target.objects.filter(case=OuterRef("pk"))
        .annotate(model_uncertainty=Subquery(latest, output_field=FloatField()))
        .filter(model_uncertainty__isnull=False)
        .order_by("-model_uncertainty")
        .values("model_uncertainty")[:1]
    )
    return Subquery(per_target, output_field=FloatField())


def flags_of(target: Target) -> tuple[list[dict], int | None]:
    """(flags, revision id) of the target's latest model mask; from ``with_flags`` when the
    target was read with it."""
    if hasattr(target, "flags_revision"):
        return target.model_flags or [], target.flags_revision
    latest = (
        MaskRevision.objects.filter(target=target, source=RevisionSource.MODEL)
        .order_by("-created_at", "-id")
        .values_list("flags", "pk")
        .first()
    )
    return (latest[0] or [], latest[1]) if latest else ([], None)


def target_flags(case: Case) -> dict[int, list[dict]]:
    """{target id: flags} of a case's targets whose latest model mask was flagged."""
    return {
        t.pk: t.model_flags
        for t in with_flags(Target.objects.filter(case=case)).only("pk")
        if t.model_flags
    }


def flag_counts(case_ids) -> dict[int, dict]:
    """Per case: ``{"flagged": n, "empty": m}``, its targets whose latest model mask was flagged
    (m of them empty); cases without one are left out. One query."""
    rows = (
        with_flags(Target.objects.filter(case_id__in=list(case_ids)))
        .exclude(flags_revision=None)
        .values_list("case_id", "model_flags")
    )
    counts: dict[int, dict] = {}
    for case_id, flags in rows:
        if flags:
            entry = counts.setdefault(case_id, {"flagged": 0, "empty": 0})
            entry["flagged"] += 1
            entry["empty"] += any(f.get("code") == "empty" for f in flags)
    return counts


def case_targets(case: Case) -> QuerySet[Target]:
    """A case's targets with what their serializer shows."""
    return with_flags(
        Target.objects.filter(case=case)
        .select_related("case__project", "head")
        .prefetch_related("reviews__reviewer")
    )


def with_assignee(qs: QuerySet[Case], *, to_attr: str | None = None) -> QuerySet[Case]:
    """Cases with their active assignment (and its annotator) prefetched."""
    active = Assignment.objects.filter(active=True).select_related("annotator")
    return qs.prefetch_related(Prefetch("assignments", queryset=active, to_attr=to_attr))


def with_details(qs: QuerySet[Case]) -> QuerySet[Case]:
    """Cases as the case serializer shows them: assignee and target count."""
    return with_assignee(qs).annotate(target_count=LIVE_TARGET_COUNT)


def case_details(pk: int) -> Case:
    return with_details(Case.objects.filter(pk=pk)).get()


def rejection_comments(cases) -> dict[int, str]:
    """The latest rejection comment of each rejected case (shown in the worklist)."""
    ids = [c.pk for c in cases if c.status == CaseStatus.REJECTED]
    comments: dict[int, str] = {}
    reviews = Review.objects.filter(target__case_id__in=ids, decision=Decision.REJECT).order_by(
        "-created_at"
    )
    for review in reviews.values("target__case_id", "comment"):
        comments.setdefault(review["target__case_id"], review["comment"])
    return comments


class CaseFilter(filters.FilterSet):
    """Filters of the case list: status (repeatable), assignee (username), study id."""

    status = filters.MultipleChoiceFilter(choices=CaseStatus.choices)
    assignee = filters.CharFilter(
        field_name="assignments__annotator__username", method="filter_assignee"
    )
    study_id = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Case
        fields = ["status", "assignee", "study_id"]

    def filter_assignee(self, qs, name, value):
        return qs.filter(assignments__annotator__username=value, assignments__active=True)
