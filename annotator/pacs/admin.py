from django.contrib import admin

from .models import DicomWebServer, ProjectServer, SegSend, SeriesImport


@admin.register(DicomWebServer)
class ServerAdmin(admin.ModelAdmin):
    list_display = ("name", "base_url", "auth", "username", "secret_source")
    exclude = ("secret_token",)  # set through the API (encrypted), never shown


admin.site.register(ProjectServer)
admin.site.register(SeriesImport)
admin.site.register(SegSend)
