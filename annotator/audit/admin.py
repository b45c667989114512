from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "action",
        "actor",
        "actor_label",
        "project",
        "object_type",
        "object_id",
    )
    list_filter = ("action", "project", "object_type")
    search_fields = ("action", "object_id", "actor__username", "actor_label")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
