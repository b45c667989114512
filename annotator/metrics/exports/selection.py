"""What an export contains: the cases of its scope and, per target, the revision that leaves.

By default only accepted masks leave (the revision the target's latest review accepted);
option `include_unaccepted` adds the current mask of targets that are not accepted, marked so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch

from annotator.annotations.models import (
    Assignment,
    Decision,
    MaskRevision,
    Review,
    RevisionSource,
    Target,
)
from annotator.cases.models import Case

from ..models import Export, ExportScope, TargetOutcome


@dataclass
class TargetItem:
    target: Target
    revision: MaskRevision
    status: str  # "accepted", "rejected", "submitted" (not reviewed yet), "draft" or "pseudo"
    review: Review | None
    outcome: TargetOutcome | None
    label_index: int  # 1-based position of the label in the project's labels
    model_revision: MaskRevision | None  # the target's first model-made mask
    files: list[str] = field(default_factory=list)  # zip members written for it
    split: str | None = None  # snapshot exports: "train", "heldout", "pseudo" or "check"

    @property
    def model_version(self):
        return self.model_revision.model_version if self.model_revision else None


@dataclass
class CaseItem:
    case: Case
    targets: list[TargetItem]
    assignee: str | None
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def scope_cases(export: Export):
    qs = Case.objects.filter(project_id=export.project_id).select_related("image", "project")
    if export.scope == ExportScope.CASE:
        return qs.filter(pk=export.case_id)
    if export.scope == ExportScope.ROUND:
        return qs.filter(targets__outcome__model_version_id=export.model_version_id).distinct()
    if export.scope == ExportScope.SNAPSHOT:
        return qs.filter(pk__in=export.snapshot.entries.values("case_id"))
    return qs


def _status(target: Target, latest: Review | None) -> str:
    if latest is None or latest.revision_id != target.head_id:
        return "submitted" if target.case.submitted_at else "draft"
    return "accepted" if latest.decision == Decision.ACCEPT else "rejected"


def case_items(export: Export) -> list[CaseItem]:
    """The cases of the export's scope that have something to export, in id order."""
    include_unaccepted = bool(export.options.get("include_unaccepted"))
    labels = export.project.label_names()
    reviews = Review.objects.select_related("revision__author", "reviewer").order_by(
        "-created_at", "-id"
    )
    model_masks = (
        MaskRevision.objects.filter(source=RevisionSource.MODEL)
        .select_related("model_version")
        .order_by("created_at", "id")
    )
    targets = Target.objects.select_related(
        "head__author", "outcome__model_version", "outcome__annotator", "outcome__reviewer"
    ).prefetch_related(
        Prefetch("reviews", queryset=reviews),
        Prefetch("revisions", queryset=model_masks, to_attr="model_masks"),
    )
    if export.scope == ExportScope.ROUND:
        targets = targets.filter(outcome__model_version_id=export.model_version_id)
    entries = {}
    if export.scope == ExportScope.SNAPSHOT:
        entries = {
            e.target_id: e for e in export.snapshot.entries.select_related("revision__author")
        }
        targets = targets.filter(pk__in=list(entries))
    items = []
    for case in (
        scope_cases(export)
        .order_by("pk")
        .prefetch_related(Prefetch("targets", queryset=targets.order_by("pk")))
    ):
        chosen = []
        for target in case.targets.all():
            latest = next(iter(target.reviews.all()), None)
            outcome = getattr(target, "outcome", None)
            entry = entries.get(target.pk)
            if entry is not None:  # the snapshot's revision, even if the target moved on since
                # A pseudo-label or a forgetting-check entry is production's mask of an unopened
                # case: nobody accepted it.
                status = "pseudo" if entry.split in ("pseudo", "check") else "accepted"
                revision = entry.revision
            elif latest is not None and latest.decision == Decision.ACCEPT and latest.revision:
                status, revision = "accepted", latest.revision
            elif include_unaccepted and target.head is not None:
                status, revision = _status(target, latest), target.head
            else:
                continue
            index = labels.index(target.label) + 1 if target.label in labels else len(labels) + 1
            first_model = target.model_masks[0] if target.model_masks else None
            chosen.append(
                TargetItem(
                    target,
                    revision,
                    status,
                    latest,
                    outcome,
                    index,
                    first_model,
                    split=entry.split if entry is not None else None,
                )
            )
        if chosen:
            assignment = (
                Assignment.objects.filter(case=case)
                .order_by("-active", "-created_at")
                .select_related("annotator")
                .first()
            )
            items.append(
                CaseItem(case, chosen, assignment.annotator.username if assignment else None)
            )
    return items
