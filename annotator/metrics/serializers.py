from django.urls import reverse
from rest_framework import serializers

from .models import Export, ExportFormat, ExportScope


class ExportRequestSerializer(serializers.Serializer):
    # Ids, resolved in the view within what the user may see (no existence leak).
    project = serializers.IntegerField()
    scope = serializers.ChoiceField(choices=ExportScope.choices)
    format = serializers.ChoiceField(choices=ExportFormat.choices)
    case = serializers.IntegerField(required=False, allow_null=True)
    model_version = serializers.IntegerField(required=False, allow_null=True)
    training_round = serializers.IntegerField(
        required=False, allow_null=True, help_text="scope=snapshot: the round whose snapshot"
    )
    options = serializers.DictField(
        required=False,
        default=dict,
        help_text="include_unaccepted (bool), include_images (bool, NIfTI), "
        'window (preset or [center, width], npz), npz_labels ("target" or "label")',
    )


class ExportSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "project",
            "scope",
            "case",
            "model_version",
            "snapshot",
            "format",
            "options",
            "status",
            "done",
            "total",
            "progress",
            "message",
            "notes",
            "size_bytes",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "download",
        ]
        read_only_fields = fields

    def get_download(self, export) -> str | None:
        if export.status != "done" or not export.file:
            return None
        path = reverse("export-download", kwargs={"pk": export.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path
