from django.contrib import admin

from annotator.core.admin import ReadOnlyAdmin

from .models import Assignment, MaskRevision, Review, Target


@admin.register(Target)
class TargetAdmin(ReadOnlyAdmin):
    list_display = ("id", "case", "label", "key_index", "head", "created_at")
    list_filter = ("label", "case__project")


@admin.register(MaskRevision)
class MaskRevisionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "target",
        "parent",
        "source",
        "author",
        "model_version",
        "voxel_count",
        "created_at",
    )
    list_filter = ("source", "target__case__project")


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ("case", "annotator", "assigned_by", "active", "created_at", "ended_at")
    list_filter = ("active", "case__project")


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ("target", "revision", "reviewer", "decision", "created_at")
    list_filter = ("decision", "target__case__project")
