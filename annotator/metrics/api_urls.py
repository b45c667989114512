"""/api/v1/ routes of the metrics app, included by annotator/api_urls.py."""

from django.urls import path

from . import api

urlpatterns = [
    path("projects/<int:pk>/metrics", api.ProjectMetrics.as_view(), name="project-metrics"),
    path(
        "projects/<int:pk>/metrics.csv",
        api.ProjectMetricsCSV.as_view(),
        name="project-metrics-csv",
    ),
    path(
        "projects/<int:pk>/metrics/targets",
        api.ProjectTargetMetrics.as_view(),
        name="project-metrics-targets",
    ),
    path(
        "projects/<int:pk>/metrics/targets.csv",
        api.ProjectTargetMetricsCSV.as_view(),
        name="project-metrics-targets-csv",
    ),
    path(
        "projects/<int:pk>/metrics/cases",
        api.ProjectCaseMetrics.as_view(),
        name="project-metrics-cases",
    ),
    path(
        "projects/<int:pk>/metrics/cases.csv",
        api.ProjectCaseMetricsCSV.as_view(),
        name="project-metrics-cases-csv",
    ),
    path("exports/", api.ExportList.as_view(), name="export-list"),
    path("exports/<int:pk>/", api.ExportDetail.as_view(), name="export-detail"),
    path("exports/<int:pk>/download", api.ExportDownload.as_view(), name="export-download"),
]
