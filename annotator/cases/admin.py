from django.contrib import admin

from annotator.core.admin import ReadOnlyAdmin

from .models import Case, Image


class ImageInline(admin.StackedInline):
    model = Image
    can_delete = False
    readonly_fields = [f.name for f in Image._meta.fields]


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    """Read-only: statuses change through the workflow services, never by hand."""

    list_display = (
        "study_id",
        "project",
        "status",
        "created_at",
        "first_opened_at",
        "submitted_at",
    )
    list_filter = ("project", "status")
    search_fields = ("study_id",)
    readonly_fields = [f.name for f in Case._meta.fields]
    inlines = [ImageInline]
    deletable = True
