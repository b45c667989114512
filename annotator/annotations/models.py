from django.conf import settings
from django.db import models

from annotator.cases.models import Case
from annotator.core.models import WriteOnce


class LiveTargets(models.Manager):
    """Targets not deleted: the default manager, so ``Target.objects`` and ``case.targets`` (the
    API, the viewer, submit, review, rounds, metrics, exports) never see a deleted target. A
    revision's or review's ``.target`` still reaches it (the base manager), and
    ``Target.all_objects`` holds every row."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Target(models.Model):
    """One thing to segment in a case (a lesion, the LV), with its prompt and its mask history."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="targets")
    label = models.CharField(max_length=100)  # one of the project's labels
    # A free-text name beside the label ("segment VII"); empty: shown as "<label> #<n>".
    name = models.CharField(max_length=100, blank=True)
    # The annotator's note to the reviewer about this target, shown in review.
    note = models.TextField(blank=True)
    # Prompt: a box (x0, y0, x1, y1 voxel coordinates) on the key slice or frame, optional points
    # [{"x", "y", "z", "positive"}].
    key_index = models.PositiveIntegerField()
    box = models.JSONField(null=True, blank=True)
    points = models.JSONField(default=list, blank=True)
    # The model's intensity window for this target: a CT preset name or [center, width]; null:
    # the project's, else the image's (annotations.selectors.target_window).
    window = models.JSONField(null=True, blank=True)
    head = models.ForeignKey(
        "MaskRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Soft delete: the row, its revisions and reviews stay (history, audit); the target leaves
    # every list, the viewer, submission, review and rounds.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = LiveTargets()
    all_objects = models.Manager()  # noqa: DJ012 (ruff takes LiveTargets() for a field)

    class Meta:
        ordering = ["case", "id"]

    def __str__(self) -> str:
        return f"{self.label} @ {self.key_index} in case {self.case_id}"

    @property
    def has_prompt(self) -> bool:
        return bool(self.box) or bool(self.points)


class RevisionSource(models.TextChoices):
    HUMAN = "human", "Human"
    MODEL = "model", "Model"


def mask_upload_path(instance: "MaskRevision", filename: str) -> str:
    case = instance.target.case
    return f"masks/{case.project_id}/{case.pk}/{instance.target_id}/{filename}"


class MaskRevision(WriteOnce, models.Model):
    """An immutable mask of one target (gzip NIfTI in the image's grid). Never updated."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="revisions")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    source = models.CharField(max_length=8, choices=RevisionSource.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="revisions",
    )
    file = models.FileField(upload_to=mask_upload_path, max_length=300)
    checksum = models.CharField(max_length=64)  # SHA-256 of the uint8 voxels (C order z, y, x)
    voxel_count = models.BigIntegerField()
    # Active editing seconds reported by the viewer for this save (idle time excluded).
    active_seconds = models.FloatField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    # What the mask measures (annotations.measure): volume_ml, long_axis_mm and short_axis_mm
    # (RECIST-style, on the target's key slice) and that slice; empty for older revisions.
    measures = models.JSONField(default=dict, blank=True)
    # Rev n of this target (1 for its first revision), set when stored: a revision's parent is
    # the target's head (compare-and-set), so a target's revisions form one chain.
    number = models.PositiveIntegerField(null=True, blank=True)
    # Client- or task-supplied key: a retried save or a redelivered task stores one revision.
    # A person's keys are theirs (unique per author); a task's are unique among the model's
    # revisions. A key names one request: its reuse with another mask or parent is refused.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    # A model revision's pre-segmentation checks (inference.qc.check_mask), made when it is
    # saved: [{"code": "empty"|"off_box"|"border"|"area_jump"|"low_confidence", "slices": [...],
    # "detail": "..."}]; [] when it passed or is a person's.
    flags = models.JSONField(default=list, blank=True)
    # A model revision's doubt in [0, 1] (inference.qc.uncertainty: the predicted IoU and object
    # score over its slices, raised by its flags), made when it is saved; null for a person's
    # revision or when nothing was known. Orders the queues of "uncertainty" projects.
    uncertainty = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["target", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["author", "idempotency_key"],
                condition=models.Q(source="human", idempotency_key__isnull=False),
                name="idempotency_key_per_author",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=models.Q(source="model", idempotency_key__isnull=False),
                name="idempotency_key_of_tasks",
            ),
        ]

    def __str__(self) -> str:
        return f"revision {self.pk} of target {self.target_id} ({self.source})"

    def save(self, *args, **kwargs):
        if self.pk is None and self.number is None:
            last = MaskRevision.objects.filter(target_id=self.target_id).aggregate(
                n=models.Max("number")
            )["n"]
            self.number = (last or 0) + 1
        super().save(*args, **kwargs)


class Assignment(models.Model):
    """Who annotates a case. Reassigning ends the previous assignment (kept for history)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=models.Q(active=True), name="one_active_assignment"
            )
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} → {self.annotator_id} ({'active' if self.active else 'ended'})"


class Decision(models.TextChoices):
    ACCEPT = "accept", "Accept"
    REJECT = "reject", "Reject"


class Review(models.Model):
    """A reviewer's decision on a target's submitted revision."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="reviews")
    revision = models.ForeignKey(
        MaskRevision, null=True, blank=True, on_delete=models.PROTECT, related_name="reviews"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.decision} on target {self.target_id} by {self.reviewer_id}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class PresegmentJob(models.Model):
    """One pre-segmentation of a target by a model: its prompts, progress and result."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="jobs")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="presegment_jobs")
    status = models.CharField(
        max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    # Prompts as sent to the engine: [{"index", "box", "points", "mask_revision"}].
    prompts = models.JSONField(default=list)
    options = models.JSONField(default=dict, blank=True)
    # The target head when the job was asked for; the result becomes the head only if unchanged.
    parent_revision = models.ForeignKey(
        MaskRevision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    result = models.ForeignKey(
        MaskRevision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Was this requested from the viewer (a re-prompt) or queued automatically?
    automatic = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"presegment job {self.pk} ({self.status}) of target {self.target_id}"

    def as_event(self) -> dict:
        """The progress message streamed to browsers."""
        return {
            "job": self.pk,
            "target": self.target_id,
            "case": self.case_id,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "message": self.message,
            "revision": self.result_id,
            "model": self.model_version.name if self.model_version_id else None,
        }
