"""/api/v1/ routes of the DICOMweb app, included by annotator/api_urls.py."""

from django.urls import path

from . import api

urlpatterns = [
    path("dicomweb/servers/", api.ServerList.as_view(), name="dicomweb-servers"),
    path("dicomweb/servers/<int:pk>/", api.ServerDetail.as_view(), name="dicomweb-server"),
    path("projects/<int:pk>/dicomweb/links/", api.ProjectLinks.as_view(), name="dicomweb-links"),
    path(
        "projects/<int:pk>/dicomweb/links/<int:link_id>/",
        api.ProjectLinkDetail.as_view(),
        name="dicomweb-link",
    ),
    path("projects/<int:pk>/dicomweb/search", api.ProjectSearch.as_view(), name="dicomweb-search"),
    path(
        "projects/<int:pk>/dicomweb/imports/", api.ProjectImports.as_view(), name="dicomweb-imports"
    ),
    path("dicomweb/imports/<int:pk>/", api.ImportDetail.as_view(), name="dicomweb-import"),
    path("projects/<int:pk>/dicomweb/sends/", api.ProjectSends.as_view(), name="dicomweb-sends"),
    path("cases/<int:pk>/dicomweb/sends/", api.CaseSends.as_view(), name="dicomweb-case-sends"),
    path("dicomweb/sends/<int:pk>/retry", api.SendRetry.as_view(), name="dicomweb-send-retry"),
]
