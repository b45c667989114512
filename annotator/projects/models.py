from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class ProjectKind(models.TextChoices):
    VOLUME = "volume", "3D lesion volumes"
    VIDEO = "video", "Echo video"


class Modality(models.TextChoices):
    CT = "CT", "CT"
    MR = "MR", "MRI"
    PT = "PT", "PET"
    US = "US", "Ultrasound"
    OT = "OT", "Other"


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    MANAGER = "manager", "Project manager"


def validate_labels(value) -> None:
    """Labels: a non-empty list of {"name": str, "color": "#rrggbb"} with unique names."""
    if not isinstance(value, list) or not value:
        raise ValidationError("labels must be a non-empty list")
    names = set()
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValidationError('each label needs a "name"')
        name = item["name"].strip()
        color = item.get("color", "")
        if not name:
            raise ValidationError("label names cannot be empty")
        if name in names:
            raise ValidationError(f"duplicate label {name!r}")
        if not (
            isinstance(color, str)
            and len(color) == 7
            and color.startswith("#")
            and all(c in "0123456789abcdefABCDEF" for c in color[1:])
        ):
            raise ValidationError(f'label {name!r} needs a colour like "#ff0000"')
        names.add(name)


class QueueOrder(models.TextChoices):
    IMPORT = "import", "Import order"
    UNCERTAINTY = "uncertainty", "Most uncertain first"
    # Modalities in turn, a draw weighted by doubt within each (cases.ordering).
    BALANCED = "balanced", "Uncertain first, balanced"


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=ProjectKind.choices, default=ProjectKind.VOLUME)
    modality = models.CharField(max_length=8, choices=Modality.choices, default=Modality.CT)
    labels = models.JSONField(default=list, validators=[validate_labels])
    # Manual annotation time per target (seconds) without AI, for the time-saved figures.
    manual_seconds_per_target = models.PositiveIntegerField(default=600)
    # Default CT window preset name for pre-segmentation (see inference.preprocess).
    default_window = models.CharField(max_length=32, blank=True)
    # How annotators' queues are ordered within a status group (rework always first): oldest
    # import first, the cases the model doubts most first, or balanced: modalities in turn and
    # doubtful cases likelier first; in both orders by doubt, the evaluation sample (the cases
    # rounds hold out) interleaved whatever the doubt (cases.selectors.in_queue_order).
    queue_order = models.CharField(
        max_length=16, choices=QueueOrder.choices, default=QueueOrder.IMPORT
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def label_names(self) -> list[str]:
        return [label["name"] for label in self.labels]

    def label_color(self, name: str) -> str | None:
        return next((label["color"] for label in self.labels if label["name"] == name), None)


class Membership(models.Model):
    """A user's role in a project. A user may hold several roles (one row each)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user", "role"], name="unique_role")
        ]
        ordering = ["project", "user", "role"]

    def __str__(self) -> str:
        return f"{self.user} — {self.role} in {self.project}"
