from django.contrib.auth import get_user_model
from rest_framework import serializers

from annotator.core.api import NameField

from .models import Membership, Project, Role, validate_labels
from .policy import roles


class LabelSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$")


class ProjectSerializer(serializers.ModelSerializer):
    labels = LabelSerializer(many=True)
    my_roles = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "kind",
            "modality",
            "labels",
            "manual_seconds_per_target",
            "default_window",
            "queue_order",
            "created_at",
            "my_roles",
        ]
        read_only_fields = ["id", "created_at", "my_roles"]

    def get_my_roles(self, project) -> list[str]:
        return sorted(roles(self.context["request"].user, project))

    def validate_labels(self, value):
        from django.core.exceptions import ValidationError

        try:
            validate_labels(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


class MembershipSerializer(serializers.ModelSerializer):
    username = NameField(
        source="user", slug_field="username", queryset=get_user_model().objects.all()
    )
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
