"""Admin writes: register, change and remove DICOMweb servers; link them to projects."""

from __future__ import annotations

from django.db import transaction

from annotator.audit.services import record
from annotator.core.errors import Conflict, InvalidInput
from annotator.projects import policy
from annotator.projects.models import Project

from . import credentials
from .models import Auth, DicomWebServer, ProjectServer

FIELDS = ("name", "base_url", "auth", "username", "secret_env", "timeout_s")


def _apply(server: DicomWebServer, data: dict) -> list[str]:
    changed = []
    for key in FIELDS:
        if key in data and data[key] is not None:
            setattr(server, key, data[key])
            changed.append(key)
    if "secret" in data and data["secret"] is not None:
        server.secret_token = credentials.encrypt(data["secret"])
        if data["secret"]:
            server.secret_env = ""
        changed.append("secret")
    if server.secret_env:
        server.secret_token = ""
    if server.auth not in Auth.values:
        raise InvalidInput(f"auth must be one of {Auth.values}")
    if server.auth == Auth.BASIC and not server.username:
        raise InvalidInput("basic auth needs a username")
    if not server.base_url.startswith(("http://", "https://")):
        raise InvalidInput("base_url must be an http(s) URL, e.g. https://pacs.example/dicom-web")
    return changed


@transaction.atomic
def create_server(actor, data: dict) -> DicomWebServer:
    policy.require(actor, "dicomweb.manage", None)
    if DicomWebServer.objects.filter(name=data.get("name")).exists():
        raise Conflict(f"a DICOMweb server named {data.get('name')} exists", code="duplicate")
    server = DicomWebServer()
    _apply(server, data)
    server.save()
    record("dicomweb.server.create", actor=actor, obj=server, name=server.name,
           base_url=server.base_url, auth=server.auth, secret=server.secret_source)  # fmt: skip
    return server


@transaction.atomic
def update_server(actor, server: DicomWebServer, data: dict) -> DicomWebServer:
    policy.require(actor, "dicomweb.manage", None)
    name = data.get("name")
    if name and DicomWebServer.objects.filter(name=name).exclude(pk=server.pk).exists():
        raise Conflict(f"a DICOMweb server named {name} exists", code="duplicate")
    changed = _apply(server, data)
    server.save()
    record("dicomweb.server.update", actor=actor, obj=server, changed=changed)
    return server


@transaction.atomic
def delete_server(actor, server: DicomWebServer) -> None:
    policy.require(actor, "dicomweb.manage", None)
    if server.imports.exists() or server.sends.exists():
        raise Conflict(
            f"{server.name} has imports or sends on record; unlink it from its projects instead",
            code="in_use",
        )
    record("dicomweb.server.delete", actor=actor, obj=server, name=server.name)
    server.delete()


@transaction.atomic
def link_server(
    actor,
    project: Project,
    server: DicomWebServer,
    *,
    import_from: bool = True,
    send_to: bool = False,
    send_on_accept: bool = False,
) -> ProjectServer:
    policy.require(actor, "dicomweb.manage", project)
    if send_on_accept and not send_to:
        raise InvalidInput("send_on_accept needs send_to")
    found, _ = ProjectServer.objects.update_or_create(
        project=project,
        server=server,
        defaults={"import_from": import_from, "send_to": send_to, "send_on_accept": send_on_accept},
    )
    record("dicomweb.link", actor=actor, obj=found, project=project, server=server.name,
           import_from=import_from, send_to=send_to, send_on_accept=send_on_accept)  # fmt: skip
    return found


@transaction.atomic
def unlink_server(actor, link: ProjectServer) -> None:
    policy.require(actor, "dicomweb.manage", link.project)
    record("dicomweb.unlink", actor=actor, project=link.project_id, server=link.server.name)
    link.delete()
