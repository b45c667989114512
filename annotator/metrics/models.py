"""Derived facts for the analytics (one row per accepted target) and export jobs."""

from django.conf import settings
from django.db import models

from annotator.annotations.models import MaskRevision, Target
from annotator.cases.models import Case
from annotator.projects.models import Project


class TargetOutcome(models.Model):
    """What it took to get one target accepted, computed once at acceptance (services.
    record_outcome) so that project metrics are plain database aggregation.

    Re-acceptance (after rework or a manager's reopen) overwrites the row: a target counts once,
    with its latest acceptance. Times are seconds; see docs/metrics.md for every definition.
    """

    target = models.OneToOneField(Target, on_delete=models.CASCADE, related_name="outcome")
    # Denormalised for grouping without joins.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=100)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_revision = models.ForeignKey(
        MaskRevision, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField()
    accepted_on = models.DateField()  # accepted_at's date in settings.TIME_ZONE
    # The model's mask: the target's first model-made revision (None: annotated without AI).
    model_revision = models.ForeignKey(
        MaskRevision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    model_round = models.PositiveIntegerField(null=True, blank=True)
    ai_assisted = models.BooleanField()
    # Time: the sum of active_seconds of the target's human revisions (idle time is excluded by
    # the viewer). None when humans saved revisions but none reported a time.
    active_seconds = models.FloatField(null=True, blank=True)
    rework_active_seconds = models.FloatField(null=True, blank=True)  # saves after 1st submit
    first_opened_at = models.DateTimeField(null=True, blank=True)  # the case's
    first_submitted_at = models.DateTimeField(null=True, blank=True)  # the case's
    case_wall_seconds = models.FloatField(null=True, blank=True)  # first open → first submit
    wall_seconds = models.FloatField(null=True, blank=True)  # the case's wall time / its targets
    # History.
    human_revisions = models.PositiveIntegerField(default=0)
    model_revisions = models.PositiveIntegerField(default=0)
    reprompts = models.PositiveIntegerField(default=0)
    rejections = models.PositiveIntegerField(default=0)  # = rework rounds of this target
    case_rejections = models.PositiveIntegerField(default=0)  # times the case was sent back
    # AI quality: model mask M against accepted mask A (voxel counts, then the ratios).
    model_voxels = models.BigIntegerField(null=True, blank=True)
    accepted_voxels = models.BigIntegerField(null=True, blank=True)
    changed_voxels = models.BigIntegerField(null=True, blank=True)  # |M xor A|
    dice = models.FloatField(null=True, blank=True)  # 2|M∩A| / (|M|+|A|); 1 if both empty
    changed_fraction = models.FloatField(null=True, blank=True)  # |M xor A| / |M ∪ A|
    accepted_unchanged = models.BooleanField(null=True, blank=True)  # A's voxels == M's
    # The model's mask was flagged by the pre-segmentation checks (MaskRevision.flags): left out
    # of the time saved, counted in flagged_targets (docs/metrics.md).
    model_flagged = models.BooleanField(default=False)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["accepted_at", "id"]
        indexes = [
            models.Index(fields=["project", "accepted_on"]),
            models.Index(fields=["project", "annotator"]),
            models.Index(fields=["project", "model_version"]),
        ]

    def __str__(self) -> str:
        return f"outcome of target {self.target_id}"


class ExportScope(models.TextChoices):
    CASE = "case", "One case"
    PROJECT = "project", "Whole project"
    ROUND = "round", "Targets pre-segmented by a model version"
    SNAPSHOT = "snapshot", "A training round's snapshot"


class ExportFormat(models.TextChoices):
    NIFTI = "nifti", "NIfTI masks"
    DICOM_SEG = "dicom-seg", "DICOM SEG"
    NPZ = "npz", "MedSAM2 npz"
    MANIFEST = "manifest", "Manifest only"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def export_upload_path(instance: "Export", filename: str) -> str:
    return f"exports/{instance.project_id}/{instance.pk}/{filename}"


class Export(models.Model):
    """A zip of labels leaving the system, built in the background (services.run_export)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    scope = models.CharField(max_length=8, choices=ExportScope.choices)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE)
    # A round snapshot: the accepted targets that this model version pre-segmented.
    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A training round's snapshot: exactly the revisions the round trained and evaluated on.
    snapshot = models.ForeignKey(
        "modelops.Snapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    format = models.CharField(max_length=16, choices=ExportFormat.choices)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED, db_index=True
    )
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    notes = models.JSONField(default=list, blank=True)  # cases skipped and why
    file = models.FileField(upload_to=export_upload_path, max_length=300, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker's heartbeat while it runs (core.heartbeat); a running export whose heartbeat
    # stops is failed by exports.stale ("worker lost; retry").
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format}, {self.scope}, {self.status})"

    @property
    def progress(self) -> float:
        return (
            1.0
            if self.status == ExportStatus.DONE
            else self.done / self.total
            if self.total
            else 0.0
        )
