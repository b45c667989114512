from django.contrib import admin

from annotator.core.admin import ReadOnlyAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "action",
        "actor",
        "actor_label",
        "project_id",
        "object_type",
        "object_id",
    )
    list_filter = ("action", "project_id", "object_type")
    search_fields = ("action", "object_id", "actor__username", "actor_label")
    date_hierarchy = "created_at"
