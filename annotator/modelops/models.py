from django.conf import settings
from django.db import models

from annotator.cases.ordering import DEFAULT_SAMPLE
from annotator.core.models import WriteOnce
from annotator.projects.models import Project
from annotator.registry.models import ModelVersion
from annotator.registry.quality import KIND_NAMES


class RoundPolicy(models.Model):
    """How a project's fine-tuning rounds run and when a candidate may replace production."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="round_policy")
    # Share of cases kept for evaluation; queues that follow doubt serve that share from a sample
    # drawn whatever the doubt (cases.ordering, "The evaluation sample").
    heldout_fraction = models.FloatField(default=DEFAULT_SAMPLE)
    steps = models.PositiveIntegerField(default=300)  # training steps per round
    auto_promote = models.BooleanField(default=False)
    # Auto-promotion: mean held-out Dice must beat production by this much, and no label's or
    # kind's mean Dice may fall more than `max_dice_drop` below production's (a few held-out
    # targets vary by about that from one training run to the next; docs/inference.md, "The gate").
    promote_margin = models.FloatField(default=0.02)
    # ...or by this share of production's remaining error (1 - mean Dice) where that is less:
    # near a Dice of 1 a fixed margin asks for more than is left (evaluation.required_gain).
    promote_error_share = models.FloatField(default=0.2)
    max_dice_drop = models.FloatField(default=0.02)
    # Threshold schedule: start a round once this many newly accepted masks exist (0 = off).
    min_new_accepted = models.PositiveIntegerField(default=0)
    nsd_tolerance_mm = models.FloatField(default=2.0)
    # Pseudo-labels (docs/inference.md, "Pseudo-labels"): a round also trains on production's own
    # masks of up to this many unopened cases per kind (0 = off), but only of kinds where
    # production's held-out Dice is at least `pseudo_min_dice`.
    pseudo_per_kind = models.PositiveIntegerField(default=12)
    pseudo_min_dice = models.FloatField(default=0.9)
    # The forgetting check (docs/inference.md, "The gate: what production already finds"): the
    # candidate also segments up to `check_per_kind` other unopened cases per kind (0 = off) of
    # kinds where production's held-out Dice is at least `check_min_dice`, and may lose
    # (evaluation.LOST_BELOW against production's own mask) at most `max_lost_share` of a
    # kind's; a few held-out targets cannot see that forgetting. The bar is lower than the
    # pseudo-labels': a mask good enough to compare with need not be good enough to train on.
    check_per_kind = models.PositiveIntegerField(default=24)
    max_lost_share = models.FloatField(default=0.05)
    check_min_dice = models.FloatField(default=0.8)
    # A model per kind of image (docs/inference.md, "A model per kind of image"): scheduled
    # rounds train one kind at a time, from and for that kind's production model, so learning
    # one kind cannot make the model forget another.
    per_kind = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"round policy of {self.project}"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    HELDOUT = "heldout", "Held out"
    PSEUDO = "pseudo", "Pseudo-label"  # production's mask of an unopened case: trained on only
    CHECK = "check", "Forgetting check"  # another such mask: compared with, never trained on


class Snapshot(WriteOnce, models.Model):
    """An immutable, hashed list of accepted mask revisions, split into train/held-out by case,
    of the pseudo-labels the round also trains on, and of production's masks its candidate is
    checked against."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="snapshots")
    sha256 = models.CharField(max_length=64)
    train_count = models.PositiveIntegerField()
    heldout_count = models.PositiveIntegerField()
    pseudo_count = models.PositiveIntegerField(default=0)
    check_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        pseudo = f"+{self.pseudo_count} pseudo" if self.pseudo_count else ""
        return f"snapshot {self.sha256[:12]} ({self.train_count}+{self.heldout_count}{pseudo})"


class SnapshotEntry(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="entries")
    revision = models.ForeignKey(
        "annotations.MaskRevision", on_delete=models.PROTECT, related_name="+"
    )
    target = models.ForeignKey("annotations.Target", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="+")
    split = models.CharField(max_length=8, choices=Split.choices)

    class Meta:
        ordering = ["snapshot", "case_id", "target_id"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "target"], name="one_entry_per_target")
        ]

    def __str__(self) -> str:
        return f"{self.split}: revision {self.revision_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("snapshot entries are immutable")
        super().save(*args, **kwargs)


class RoundStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    TRAINING = "training", "Training"
    EVALUATING = "evaluating", "Evaluating"
    CANDIDATE = "candidate", "Candidate"  # finished; waits for a promotion decision
    PROMOTED = "promoted", "Promoted"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_ROUND_STATUSES = (RoundStatus.QUEUED, RoundStatus.TRAINING, RoundStatus.EVALUATING)


class RoundTrigger(models.TextChoices):
    MANUAL = "manual", "Started by an admin"
    SCHEDULE = "schedule", "Schedule"
    THRESHOLD = "threshold", "New accepted masks"


class TrainingRound(models.Model):
    """One fine-tuning round: snapshot → train from production → evaluate → candidate."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=12, choices=RoundStatus.choices, default=RoundStatus.QUEUED, db_index=True
    )
    trigger = models.CharField(max_length=12, choices=RoundTrigger.choices)
    # The kind of image it trains on and its candidate serves (registry.quality.KINDS); "" =
    # every kind, one model for all.
    kind = models.CharField(max_length=16, blank=True, default="")
    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="rounds")
    base_model = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="rounds_based_on"
    )
    candidate = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    config = models.JSONField(default=dict)  # training settings actually used
    # {"step", "total", "loss", "eta_s", "phase"} while it runs.
    progress = models.JSONField(default=dict, blank=True)
    # Evaluation: per target and per label, candidate vs the production model of the round.
    metrics = models.JSONField(default=dict, blank=True)
    message = models.CharField(max_length=500, blank=True)
    cancel_requested = models.BooleanField(default=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_round_number"),
            # A round never starts while another of the same project runs.
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status__in=["queued", "training", "evaluating"]),
                name="one_active_round_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"round {self.number} of {self.project} ({self.status})"

    @property
    def kind_name(self) -> str:
        """The kind of image it trains for, for people ("" = every kind)."""
        return KIND_NAMES.get(self.kind, self.kind)
