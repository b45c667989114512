"""Reads: servers, a project's links, imports and sends."""

from __future__ import annotations

from django.db.models import QuerySet

from annotator.core.errors import InvalidInput
from annotator.projects.models import Project

from .models import DicomWebServer, ProjectServer, SegSend, SeriesImport


def servers() -> QuerySet[DicomWebServer]:
    return DicomWebServer.objects.all()


def links(project: Project) -> QuerySet[ProjectServer]:
    return ProjectServer.objects.filter(project=project).select_related("server")


def link(project: Project, name: str, *, purpose: str) -> ProjectServer:
    """The project's link to the server `name`, allowed for `purpose` ("import" or "send")."""
    found = links(project).filter(server__name=name).first()
    if found is None:
        raise InvalidInput(
            f"project {project.slug} has no DICOMweb server {name!r}; an admin links one",
            code="dicomweb_not_linked",
        )
    if purpose == "import" and not found.import_from:
        raise InvalidInput(
            f"project {project.slug} does not import from {name}", code="dicomweb_not_linked"
        )
    if purpose == "send" and not found.send_to:
        raise InvalidInput(
            f"project {project.slug} does not send to {name}", code="dicomweb_not_linked"
        )
    return found


def imports(project: Project) -> QuerySet[SeriesImport]:
    return SeriesImport.objects.filter(project=project).select_related("server")


def sends(project: Project) -> QuerySet[SegSend]:
    return SegSend.objects.filter(project=project).select_related("server")


def case_sends(case) -> QuerySet[SegSend]:
    return SegSend.objects.filter(case=case).select_related("server")
