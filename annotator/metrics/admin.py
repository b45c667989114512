from django.contrib import admin

from .models import Export, TargetOutcome


@admin.register(TargetOutcome)
class TargetOutcomeAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "scope", "format", "status", "done", "total", "created_at")
    list_filter = ("status", "format", "scope", "project")
    readonly_fields = [f.name for f in Export._meta.fields]

    def has_add_permission(self, request):
        return False
