from django.contrib import admin

from .models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "origin", "status", "project", "config", "created_at", "promoted_at")
    list_filter = ("status", "origin", "project")
    readonly_fields = ("checksum", "file", "created_at", "promoted_at", "status")
