from rest_framework import serializers

from annotator.registry.quality import KINDS

from .models import RoundPolicy, TrainingRound
from .rounds import LR_RANGE
from .schedules import MAX_DICE_DROP_MAX


class RoundSerializer(serializers.ModelSerializer):
    project = serializers.PrimaryKeyRelatedField(read_only=True)
    snapshot = serializers.SerializerMethodField()
    started_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = TrainingRound
        fields = [
            "id",
            "project",
            "number",
            "status",
            "trigger",
            "kind",
            "snapshot",
            "base_model",
            "candidate",
            "config",
            "progress",
            "metrics",
            "message",
            "cancel_requested",
            "started_by",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_snapshot(self, round_) -> dict:
        s = round_.snapshot
        return {"id": s.pk, "sha256": s.sha256, "train": s.train_count, "heldout": s.heldout_count,
                "pseudo": s.pseudo_count, "check": s.check_count}  # fmt: skip


class RoundStartSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    steps = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000)
    learning_rate = serializers.FloatField(
        required=False,
        min_value=LR_RANGE[0],
        max_value=LR_RANGE[1],
        help_text=(
            "peak learning rate; default 5e-5 for published weights, 2e-4 for the starters "
            "(the image encoder gets 0.6x, MedSAM2's ratio)"
        ),
    )
    force = serializers.BooleanField(
        default=False,
        help_text="start although no mask was accepted since the last round (audited)",
    )
    kind = serializers.ChoiceField(
        choices=list(KINDS),
        required=False,
        allow_blank=True,
        default="",
        help_text="train on this kind of image only, from and for its own production model "
        "(a model per kind); empty: every kind, one model",
    )


class RoundPromoteSerializer(serializers.Serializer):
    override = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=1000,
        help_text="a written reason, needed when the candidate failed the gate or the quality "
        "floor; audited",
    )


class RoundPolicySerializer(serializers.ModelSerializer):
    dice_floor = serializers.DictField(
        child=serializers.FloatField(min_value=0.0, max_value=1.0),
        required=False,
        write_only=True,  # read back from the registry (RoundPolicyView.get)
        help_text='the quality floor on held-out Dice per kind, e.g. {"ct": 0.5, "echo": 0.8} '
        "(kinds: ct, mr, pet, echo, other); no model becomes production automatically below it",
    )
    cron = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=200,
        help_text='"minute hour day month weekday", e.g. "0 2 * * *" nightly; empty removes it',
    )

    class Meta:
        model = RoundPolicy
        # The bounds of schedules.check_policy (which also checks the page's input).
        extra_kwargs = {
            "steps": {"min_value": 1, "max_value": 1_000_000},
            "promote_margin": {"min_value": -1.0, "max_value": 1.0},
            "max_dice_drop": {"min_value": 0.0, "max_value": MAX_DICE_DROP_MAX},
            "promote_error_share": {"min_value": 0.0, "max_value": 1.0},
            "nsd_tolerance_mm": {"min_value": 0.001, "max_value": 100.0},
            "min_new_accepted": {"min_value": 0, "max_value": 1_000_000},
            "pseudo_per_kind": {"min_value": 0, "max_value": 1_000},
            "pseudo_min_dice": {"min_value": 0.001, "max_value": 1.0},
            "check_per_kind": {"min_value": 0, "max_value": 1_000},
            "max_lost_share": {"min_value": 0.0, "max_value": 1.0},
            "check_min_dice": {"min_value": 0.001, "max_value": 1.0},
        }
        fields = [
            "heldout_fraction",
            "steps",
            "auto_promote",
            "promote_margin",
            "promote_error_share",
            "max_dice_drop",
            "min_new_accepted",
            "nsd_tolerance_mm",
            "pseudo_per_kind",
            "pseudo_min_dice",
            "check_per_kind",
            "max_lost_share",
            "check_min_dice",
            "per_kind",
            "cron",
            "dice_floor",
        ]

    def validate_heldout_fraction(self, value):
        if not 0 < value < 1:
            raise serializers.ValidationError("must be between 0 and 1")
        return value


class PresegmentPromptSerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, help_text="slice or frame")
    box = serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        required=False,
        allow_null=True,
    )
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=3, max_length=3),
        required=False,
        help_text="[[x, y, 1 positive | 0 negative], ...]",
    )
    mask_revision = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="use this revision's mask on `index` as a mask prompt (a corrected slice)",
    )


class PresegmentRequestSerializer(serializers.Serializer):
    prompts = PresegmentPromptSerializer(many=True, required=False, default=list)
    replace = serializers.BooleanField(
        default=False, help_text="use only these prompts, not the target's own box/points"
    )
    options = serializers.DictField(
        required=False,
        default=dict,
        help_text='{"window": "lung" | [center, width], "z_range": [z0, z1], '
        '"early_stop_patience": 3 | null}',
    )
