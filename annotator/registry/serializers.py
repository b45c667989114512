from rest_framework import serializers

from . import quality
from .models import ModelStatus, ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    metrics = serializers.SerializerMethodField(
        help_text='one schema for every origin: {"heldout": {kind: {"dice", "nsd", "n"}}, '
        '"source": "phantoms"|"round"|"none", optional "gate", "training", "file"}'
    )
    promotion_problems = serializers.SerializerMethodField(
        help_text="what keeps it from production without an override (empty in production)"
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "parent",
            "origin",
            "config",
            "checksum",
            "metrics",
            "status",
            "project",
            "round_number",
            "kind",
            "replaced",
            "created_at",
            "promoted_at",
            "promotion_problems",
            "override",
        ]
        read_only_fields = fields

    def get_metrics(self, version) -> dict:
        return quality.version_metrics(version)

    def get_promotion_problems(self, version) -> list[str]:
        if version.status == ModelStatus.PRODUCTION:
            return []
        return quality.promotion_problems(version, self.context.setdefault("quality_cache", {}))


class ModelPromoteSerializer(serializers.Serializer):
    override = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=1000,
        help_text="a written reason, needed when the version has promotion problems (a failed "
        "gate, held-out Dice below the quality floor or none); audited",
    )


class ModelImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text='checkpoint in the official format {"model": state_dict}'
    )
    name = serializers.CharField(max_length=200)
    config = serializers.CharField(default="medsam2_t512", help_text="inference config name")
    project = serializers.IntegerField(required=False, allow_null=True, default=None)
    kind = serializers.ChoiceField(
        choices=list(quality.KINDS),
        required=False,
        allow_blank=True,
        default="",
        help_text="serve this kind of image only (a model per kind); empty: every kind",
    )
