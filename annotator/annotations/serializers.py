from rest_framework import serializers

from .models import MaskRevision, Review, Target
from .selectors import flags_of


class PointSerializer(serializers.Serializer):
    x = serializers.FloatField()
    y = serializers.FloatField()
    z = serializers.IntegerField(required=False)
    positive = serializers.BooleanField(default=True)


def box_field() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        allow_null=True,
        required=False,
        help_text="[x0, y0, x1, y1] in voxel coordinates of the key slice/frame",
    )


def window_field():
    return serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='the model\'s intensity window for this target: a CT preset name ("lung") or '
        "[center, width]; null or absent: the project's, else the image's",
    )


class TargetSerializer(serializers.ModelSerializer):
    box = box_field()
    points = PointSerializer(many=True, required=False)
    window = window_field()
    flags = serializers.SerializerMethodField()
    flags_revision = serializers.SerializerMethodField()
    color = serializers.SerializerMethodField()
    name = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    display_name = serializers.SerializerMethodField()
    head_voxel_count = serializers.SerializerMethodField()
    head_source = serializers.SerializerMethodField()
    volume_ml = serializers.SerializerMethodField()
    long_axis_mm = serializers.SerializerMethodField()
    short_axis_mm = serializers.SerializerMethodField()
    head_number = serializers.SerializerMethodField()
    review = serializers.SerializerMethodField()

    class Meta:
        model = Target
        fields = [
            "id",
            "case",
            "label",
            "name",
            "display_name",
            "note",
            "color",
            "key_index",
            "box",
            "points",
            "window",
            "head",
            "head_number",
            "head_voxel_count",
            "head_source",
            "volume_ml",
            "long_axis_mm",
            "short_axis_mm",
            "review",
            "flags",
            "flags_revision",
            "created_at",
        ]
        read_only_fields = ["id", "case", "color", "head", "created_at"]

    def get_display_name(self, target) -> str:
        """The name, else "<label> #<n>": n counts the case's targets of that label (deleted
        ones too, so a number never moves to another target)."""
        if target.name:
            return target.name
        n = Target.all_objects.filter(
            case_id=target.case_id, label=target.label, pk__lte=target.pk
        ).count()
        return f"{target.label} #{n}"

    def get_head_number(self, target) -> int | None:
        """Rev n of this target's current mask (not the revision's id)."""
        return target.head.number if target.head else None

    def _measure(self, target, key: str) -> float | None:
        """The current mask's figure (annotations.measure), stored with its revision."""
        return (target.head.measures or {}).get(key) if target.head else None

    def get_volume_ml(self, target) -> float | None:
        return self._measure(target, "volume_ml")

    def get_long_axis_mm(self, target) -> float | None:
        """RECIST-style longest diameter on the key slice, mm."""
        return self._measure(target, "long_axis_mm")

    def get_short_axis_mm(self, target) -> float | None:
        """The longest diameter perpendicular to the long axis on the key slice, mm."""
        return self._measure(target, "short_axis_mm")

    def get_color(self, target) -> str | None:
        return target.case.project.label_color(target.label)

    def get_head_voxel_count(self, target) -> int | None:
        return target.head.voxel_count if target.head else None

    def get_head_source(self, target) -> str | None:
        return target.head.source if target.head else None

    def get_review(self, target) -> dict | None:
        review = target.reviews.first()
        if review is None:
            return None
        return {
            "decision": review.decision,
            "comment": review.comment,
            "reviewer": review.reviewer.username if review.reviewer else None,
            "revision": review.revision_id,
            "current": review.revision_id == target.head_id,
            "created_at": review.created_at,
        }

    def get_flags(self, target) -> list[dict]:
        """The pre-segmentation checks of the target's latest model mask ([] when it passed or
        there is none): [{"code", "slices", "detail"}]; docs/api.md."""
        return flags_of(target)[0]

    def get_flags_revision(self, target) -> int | None:
        """The model revision the flags belong to (the head, unless someone edited it since)."""
        return flags_of(target)[1]


class TargetChangeSerializer(serializers.Serializer):
    """PATCH a target: the prompt (``key_index`` with ``box``/``points``, and ``window``),
    the label, the name, the note to the reviewer; only what is sent changes."""

    PROMPT = ("key_index", "box", "points", "window")

    key_index = serializers.IntegerField(min_value=0, required=False)
    box = box_field()
    points = PointSerializer(many=True, required=False)
    window = window_field()
    label = serializers.CharField(required=False, max_length=100)
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    def validate(self, attrs):
        if any(k in attrs for k in self.PROMPT) and "key_index" not in attrs:
            raise serializers.ValidationError(
                {"key_index": "a prompt (box, points, window) is changed with its key_index"}
            )
        if not attrs:
            raise serializers.ValidationError("nothing to change")
        return attrs


class MaskRevisionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    model_version = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = MaskRevision
        fields = [
            "id",
            "target",
            "parent",
            "source",
            "author",
            "model_version",
            "checksum",
            "number",
            "voxel_count",
            "measures",
            "active_seconds",
            "note",
            "flags",
            "created_at",
        ]
        read_only_fields = fields


class RevisionUploadSerializer(serializers.Serializer):
    parent = serializers.IntegerField(
        allow_null=True,
        required=True,
        help_text="the revision this one was edited from (the target's current head); null for "
        "the first revision. A stale parent is answered with 409.",
    )
    mask = serializers.FileField(
        help_text="NIfTI (.nii/.nii.gz) in the image grid, or raw uint8 voxels (x fastest) "
        "optionally gzip-compressed, with `shape`",
        allow_empty_file=True,
    )
    shape = serializers.CharField(
        required=False, help_text="x,y,z for a raw mask (must equal the image shape)"
    )
    active_seconds = serializers.FloatField(required=False, min_value=0, max_value=86400)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    def validate_shape(self, value: str):
        try:
            parts = tuple(int(v) for v in value.split(","))
        except ValueError as exc:
            raise serializers.ValidationError("shape must be x,y,z integers") from exc
        if len(parts) != 3 or min(parts) <= 0:
            raise serializers.ValidationError("shape must be three positive integers x,y,z")
        return parts


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Review
        fields = ["id", "target", "revision", "reviewer", "decision", "comment", "created_at"]
        read_only_fields = fields


class PresegmentJobSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(source="model_version", slug_field="name", read_only=True)

    class Meta:
        from .models import PresegmentJob

        model = PresegmentJob
        fields = [
            "id",
            "target",
            "case",
            "status",
            "done",
            "total",
            "message",
            "prompts",
            "options",
            "model",
            "parent_revision",
            "result",
            "automatic",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class AssignSerializer(serializers.Serializer):
    annotator = serializers.CharField(help_text="username of an annotator in the project")


class DecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject"])
    comment = serializers.CharField(required=False, allow_blank=True, default="")
