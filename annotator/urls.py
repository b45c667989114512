from django.contrib import admin
from django.urls import include, path

from annotator.core import health
from annotator.web import dashboard

urlpatterns = [
    path("", include("annotator.web.urls")),  # pages: sign-in, worklist, viewer, ...
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("annotator.api_urls")),
    path("projects/<int:pk>/dashboard", dashboard.dashboard, name="project-dashboard"),
    path("", include("annotator.web.model_urls")),
]
