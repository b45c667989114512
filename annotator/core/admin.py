"""Admin bases for rows that only services write (workflow, audit, metrics): the admin may show
them, never make or edit them, so every change goes through the service that audits it."""

from __future__ import annotations

from django.contrib import admin


class ServiceWrittenAdmin(admin.ModelAdmin):
    """Rows are created by services only; existing ones stay editable here."""

    def has_add_permission(self, request) -> bool:
        return False


class ReadOnlyAdmin(ServiceWrittenAdmin):
    """Neither added nor changed here; deleted only where `deletable` allows it."""

    deletable = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.deletable and super().has_delete_permission(request, obj)
