from django.contrib import admin

from annotator.core.admin import ReadOnlyAdmin, ServiceWrittenAdmin

from .models import Export, TargetOutcome


@admin.register(TargetOutcome)
class TargetOutcomeAdmin(ReadOnlyAdmin):
    """Derived rows (services.record_outcome): read-only here."""

    list_display = (
        "target",
        "project",
        "annotator",
        "accepted_at",
        "model_version",
        "active_seconds",
        "dice",
        "accepted_unchanged",
        "rejections",
    )
    list_filter = ("project", "ai_assisted", "accepted_unchanged", "model_round")
    date_hierarchy = "accepted_at"
    deletable = True


@admin.register(Export)
class ExportAdmin(ServiceWrittenAdmin):
    list_display = ("id", "project", "scope", "format", "status", "done", "total", "created_at")
    list_filter = ("status", "format", "scope", "project")
    readonly_fields = [f.name for f in Export._meta.fields]
