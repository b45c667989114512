from rest_framework import serializers

from .models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    project = serializers.IntegerField(source="project_id", read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "actor_id",
            "actor_label",
            "action",
            "project",
            "object_type",
            "object_id",
            "data",
        ]
        read_only_fields = fields
