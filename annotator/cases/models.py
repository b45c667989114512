from django.conf import settings
from django.db import models

from annotator.projects.models import Modality, Project, ProjectKind


class CaseStatus(models.TextChoices):
    NEW = "new", "New"
    PRESEGMENTING = "presegmenting", "Pre-segmenting"
    READY = "ready", "Ready"
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class Case(models.Model):
    """One study to annotate (a volume or a clip). Status changes only via cases.services."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cases")
    # Pseudonymous id (HMAC of the source identity); never a patient identifier.
    study_id = models.CharField(max_length=32)
    # Keyed hash of the source identity, to spot a re-import of the same series.
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=CaseStatus.choices, default=CaseStatus.NEW, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Optimistic-lock counter bumped by every status change.
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "study_id"], name="unique_study_id"),
            models.UniqueConstraint(fields=["project", "fingerprint"], name="unique_fingerprint"),
        ]

    def __str__(self) -> str:
        return f"{self.study_id} ({self.get_status_display()})"


def image_upload_path(instance: "Image", filename: str) -> str:
    return f"images/{instance.case.project_id}/{instance.case_id}/{filename}"


class Image(models.Model):
    """The canonical stored volume (z, y, x) or clip (t, y, x) of a case, as gzip NIfTI."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="image")
    file = models.FileField(upload_to=image_upload_path, max_length=300)
    kind = models.CharField(max_length=16, choices=ProjectKind.choices)
    modality = models.CharField(max_length=8, choices=Modality.choices)
    # Voxel grid in NIfTI order: [x, y, z] (z = frames for a clip).
    shape = models.JSONField()
    spacing = models.JSONField()  # [x, y, z] mm
    origin = models.JSONField()  # LPS mm
    direction = models.JSONField()  # 9 floats, row-major, LPS
    dtype = models.CharField(max_length=16)
    frame_count = models.PositiveIntegerField(null=True, blank=True)
    frame_rate = models.FloatField(null=True, blank=True)
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    source_format = models.CharField(max_length=32)
    description = models.CharField(max_length=300, blank=True)
    metadata = models.JSONField(default=dict, blank=True)  # whitelisted technical attributes
    # Source DICOM UIDs (study/series/frame of reference/SOP instances), for DICOM SEG export.
    dicom = models.JSONField(null=True, blank=True)
    checksum = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.modality} {'x'.join(str(s) for s in self.shape)}"

    @property
    def voxel_count(self) -> int:
        x, y, z = self.shape
        return x * y * z
