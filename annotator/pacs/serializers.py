from __future__ import annotations

from rest_framework import serializers

from annotator.core.api import NameField

from .models import Auth, DicomWebServer, ProjectServer, SegSend, SeriesImport


class ServerSerializer(serializers.ModelSerializer):
    """The secret is write-only: `secret` (stored encrypted) or `secret_env` (a variable
    name); answers say only where it comes from (`secret_source`)."""

    secret = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                   trim_whitespace=False)  # fmt: skip
    secret_source = serializers.CharField(read_only=True)
    auth = serializers.ChoiceField(choices=Auth.choices, required=False)

    class Meta:
        model = DicomWebServer
        fields = ["id", "name", "base_url", "auth", "username", "secret", "secret_env",
                  "secret_source", "timeout_s", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}


class LinkSerializer(serializers.ModelSerializer):
    server = NameField(slug_field="name", queryset=DicomWebServer.objects.all())

    class Meta:
        model = ProjectServer
        fields = ["id", "server", "import_from", "send_to", "send_on_accept", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators = []


class ImportRequestSerializer(serializers.Serializer):
    server = serializers.CharField()
    study = serializers.CharField()
    series = serializers.ListField(child=serializers.CharField(), required=False)


class ImportSerializer(serializers.ModelSerializer):
    server = serializers.CharField(source="server.name")
    progress = serializers.SerializerMethodField()

    class Meta:
        model = SeriesImport
        fields = ["id", "project", "server", "study_uid", "series_uid", "status", "done",
                  "total", "progress", "bytes_received", "message", "report", "case",
                  "created_at", "started_at", "finished_at"]  # fmt: skip

    def get_progress(self, obj) -> float:
        return round(obj.done / obj.total, 3) if obj.total else 0.0


class SendRequestSerializer(serializers.Serializer):
    server = serializers.CharField()
    cases = serializers.ListField(child=serializers.IntegerField(), required=False)


class SendSerializer(serializers.ModelSerializer):
    server = serializers.CharField(source="server.name")
    study_id = serializers.CharField(source="case.study_id")

    class Meta:
        model = SegSend
        fields = ["id", "project", "case", "study_id", "server", "trigger", "status",
                  "attempts", "next_attempt_at", "message", "errors", "seg_series_uid",
                  "seg_sop_uid", "patient_from", "created_at", "sent_at"]  # fmt: skip
