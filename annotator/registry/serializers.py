from rest_framework import serializers

from .models import ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

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
            "replaced",
            "created_at",
            "promoted_at",
        ]
        read_only_fields = fields


class ModelImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text='checkpoint in the official format {"model": state_dict}'
    )
    name = serializers.CharField(max_length=200)
    config = serializers.CharField(default="medsam2_t512", help_text="inference config name")
    project = serializers.IntegerField(required=False, allow_null=True, default=None)
