"""The model registry: checkpoints in the model store and which one is production. Below the
annotation layer, which records the model version that produced a mask."""

from django.db import models

from annotator.projects.models import Project


class ModelOrigin(models.TextChoices):
    PUBLISHED = "published", "Published weights"
    BOOTSTRAP = "bootstrap", "Bootstrap (synthetic phantoms)"
    ROUND = "round", "Fine-tuning round"
    IMPORTED = "imported", "Imported checkpoint"


class ModelStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    PRODUCTION = "production", "Production"
    RETIRED = "retired", "Retired"


class ModelVersion(models.Model):
    """A checkpoint in the model store. At most one production version per scope (a project,
    or global) and kind of image: a version for one kind (``kind``: "ct", "mr", ...; made by a
    round of that kind, or published weights for one task) serves that kind's cases, a version
    for every kind ("") the rest (registry.selectors.production_model gives the order)."""

    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    origin = models.CharField(max_length=16, choices=ModelOrigin.choices)
    config = models.CharField(max_length=100)  # inference config name, e.g. medsam2_t512
    checksum = models.CharField(max_length=64)  # SHA-256 of the checkpoint file
    file = models.CharField(max_length=500)  # path relative to settings.MODEL_STORE
    metrics = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE, db_index=True
    )
    # None = the global default for projects without a production version of their own.
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="model_versions"
    )
    round_number = models.PositiveIntegerField(null=True, blank=True)
    # The kind of image it serves (quality.KINDS), "" = every kind: a round of one kind trains
    # it, or an admin registers published weights for one (docs/inference.md, "A model per kind
    # of image").
    kind = models.CharField(max_length=16, blank=True, default="")
    # The production version this one replaced when it was promoted (what a rollback restores).
    replaced = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    # Set when a person promoted it over what blocks automatic promotion (a failed gate, the
    # quality floor): {"reason", "problems", "by", "at"}.
    override = models.JSONField(default=dict, blank=True)

    class Meta:
        # The table keeps the name it had when the registry was part of modelops.
        db_table = "modelops_modelversion"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind"],
                condition=models.Q(status="production", project__isnull=False),
                name="one_production_per_project_kind",
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(status="production", project__isnull=True),
                name="one_global_production_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class QualityFloor(models.Model):
    """A project's floor on mean held-out Dice per kind of data ({"ct": 0.5, ...}; kinds it does
    not set use registry.quality.DEFAULT_FLOORS). Below it no model version becomes production
    for the project automatically, and a person promotes one only with a written reason."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="quality_floor")
    dice = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"quality floor of {self.project}"


class StarterStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    TRAINING = "training", "Training"
    EVALUATING = "evaluating", "Evaluating"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class StarterRun(models.Model):
    """One training of the starter model (`bootstrap_model`, registry/starter.py): its settings,
    its live progress (written every few steps, read by the models page) and the version it
    registered. An unfinished run is resumed by the next worker or command that takes it."""

    status = models.CharField(
        max_length=12, choices=StarterStatus.choices, default=StarterStatus.QUEUED, db_index=True
    )
    settings = models.JSONField(default=dict)  # config, steps, seed, heldout, promote, override
    reason = models.CharField(max_length=500, blank=True)  # why it is trained
    step = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    resumed_from = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    eta_s = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=1000, blank=True)
    # "host:pid" of the process training it: a run whose process is gone was interrupted.
    worker = models.CharField(max_length=200, blank=True)
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"starter run {self.pk} ({self.status}, step {self.step}/{self.total})"
