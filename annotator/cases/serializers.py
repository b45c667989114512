from rest_framework import serializers

from .models import Case, Image


class ImageSerializer(serializers.ModelSerializer):
    window = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "kind",
            "modality",
            "shape",
            "spacing",
            "origin",
            "direction",
            "dtype",
            "frame_count",
            "frame_rate",
            "window",
            "source_format",
            "description",
            "size_bytes",
        ]

    def get_window(self, image) -> dict | None:
        if image.window_center is None:
            return None
        return {"center": image.window_center, "width": image.window_width}


class CaseSerializer(serializers.ModelSerializer):
    image = ImageSerializer(read_only=True)
    assignee = serializers.SerializerMethodField()
    target_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Case
        fields = [
            "id",
            "project",
            "study_id",
            "status",
            "image",
            "assignee",
            "target_count",
            "created_at",
            "updated_at",
            "first_opened_at",
            "submitted_at",
            "closed_at",
            "version",
        ]
        read_only_fields = fields

    def get_assignee(self, case) -> str | None:
        for assignment in case.assignments.all():
            if assignment.active:
                return assignment.annotator.username
        return None


class ImportUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        allow_empty=False,
        help_text="DICOM files or zips, NIfTI (.nii/.nii.gz), multi-frame DICOM",
    )
    targets = serializers.FileField(
        required=False, help_text="CSV: case,label,key_index,x0,y0,x1,y1 (voxel coordinates)"
    )
