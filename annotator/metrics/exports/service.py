"""Export jobs: request (validate, record, run inline or queue), run (build the zip), download.

run_export is idempotent: a redelivered task rebuilds the zip from scratch, and a finished
export is left alone. Progress (done/total cases) is written as it goes.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from annotator.annotations.selectors import revision_mask
from annotator.audit.services import record
from annotator.cases.models import Case
from annotator.cases.selectors import clean_window
from annotator.core.errors import Conflict, InvalidInput
from annotator.modelops.models import Snapshot, TrainingRound
from annotator.projects import policy
from annotator.projects.models import Project
from annotator.registry.models import ModelVersion

from ..models import Export, ExportFormat, ExportScope, ExportStatus
from . import dicom_seg, formats
from .selection import CaseItem, case_items, scope_cases

log = logging.getLogger(__name__)

# Exports of at most this many voxels (all cases together) run inside the request.
INLINE_MAX_VOXELS = getattr(settings, "EXPORT_INLINE_MAX_VOXELS", 32 * 1024 * 1024)
OPTION_KEYS = {"include_unaccepted", "include_images", "window", "npz_labels"}


def _clean_options(options: dict | None) -> dict:
    options = dict(options or {})
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise InvalidInput(
            f"unknown export options {sorted(unknown)}; known: {sorted(OPTION_KEYS)}"
        )
    if options.get("npz_labels", "target") not in ("target", "label"):
        raise InvalidInput('npz_labels must be "target" or "label"')
    if options.get("window") is not None:
        options["window"] = clean_window(options["window"])
    for key in ("include_unaccepted", "include_images"):
        if key in options:
            options[key] = bool(options[key])
    return options


def request_export(
    *,
    actor,
    project: Project,
    scope: str,
    fmt: str,
    case: Case | None = None,
    model_version: ModelVersion | None = None,
    snapshot=None,
    options: dict | None = None,
    inline: bool | None = None,
) -> Export:
    """Create an export; small ones (or inline=True) are built before this returns, the others
    go to the `default` Celery queue once the caller's transaction commits."""
    policy.require(actor, "metrics.export", project)
    if scope not in ExportScope.values:
        raise InvalidInput(f"scope must be one of {ExportScope.values}")
    if fmt not in ExportFormat.values:
        raise InvalidInput(f"format must be one of {ExportFormat.values}")
    if scope == ExportScope.CASE:
        if case is None or case.project_id != project.pk:
            raise InvalidInput("a case export needs a case of this project")
        if fmt == ExportFormat.DICOM_SEG:
            reason = dicom_seg.refusal(case.image)
            if reason:
                raise InvalidInput(
                    f"case {case.study_id} cannot be exported as DICOM SEG: {reason}",
                    code="dicom_seg_unavailable",
                )
    elif case is not None:
        raise InvalidInput("only a case export names a case")
    if scope == ExportScope.ROUND:
        if model_version is None:
            raise InvalidInput("a round snapshot needs the round's model_version")
        if model_version.project_id not in (None, project.pk):
            raise InvalidInput("that model version belongs to another project")
    elif model_version is not None:
        raise InvalidInput("only a round export names a model version")
    if scope == ExportScope.SNAPSHOT:
        if snapshot is None or snapshot.project_id != project.pk:
            raise InvalidInput("a snapshot export needs a training round of this project")
    elif snapshot is not None:
        raise InvalidInput("only a snapshot export names a training round")
    options = _clean_options(options)
    with transaction.atomic():
        export = _create(actor, project, scope, fmt, case, model_version, options, snapshot)
    if inline is None:
        shapes = scope_cases(export).values_list("image__shape", flat=True)
        inline = sum(x * y * z for x, y, z in shapes) <= INLINE_MAX_VOXELS
    if inline:
        return run_export(export.pk)
    transaction.on_commit(lambda: _enqueue(export.pk))
    return export


def _create(actor, project, scope, fmt, case, model_version, options, snapshot=None) -> Export:
    export = Export.objects.create(
        project=project,
        scope=scope,
        case=case,
        model_version=model_version,
        snapshot=snapshot,
        format=fmt,
        options=options,
        requested_by=actor,
    )
    export.total = scope_cases(export).count()
    export.save(update_fields=["total"])
    record(
        "export.request",
        actor=actor,
        obj=export,
        project=project,
        scope=scope,
        format=fmt,
        case=case.pk if case else None,
        model_version=model_version.pk if model_version else None,
    )
    return export


def _enqueue(export_id: int) -> None:
    from .. import tasks

    result = tasks.run_export.delay(export_id)
    Export.objects.filter(pk=export_id, task_id="").update(task_id=result.id or "")


def _claim(export_id: int) -> Export | None:
    with transaction.atomic():
        export = Export.objects.select_for_update().select_related("project").get(pk=export_id)
        if export.status == ExportStatus.DONE:
            return None
        export.status, export.started_at = ExportStatus.RUNNING, timezone.now()
        export.done, export.message = 0, ""
        export.save(update_fields=["status", "started_at", "done", "message"])
        return export


def _write_case(zf: zipfile.ZipFile, export: Export, item: CaseItem) -> None:
    if export.format == ExportFormat.NIFTI:
        formats.write_nifti(zf, item, export.options)
    elif export.format == ExportFormat.NPZ:
        formats.write_npz(zf, item, export.options)
    elif export.format == ExportFormat.DICOM_SEG:
        reason = dicom_seg.refusal(item.case.image)
        if reason:
            item.notes.append(f"no DICOM SEG: {reason}")
            return
        data = dicom_seg.seg_bytes(item, [revision_mask(t.revision) for t in item.targets])
        name = f"{formats.safe_name(item.case.study_id)}/seg.dcm"
        zf.writestr(name, data)
        item.files.append(name)
        for target in item.targets:
            target.files.append(name)


def _header(export: Export) -> dict:
    return {
        "export": {
            "id": export.pk,
            "project": {"id": export.project_id, "slug": export.project.slug},
            "scope": export.scope,
            "format": export.format,
            "case": export.case_id,
            "model_version": export.model_version.name if export.model_version else None,
            "options": export.options,
            "requested_by": export.requested_by.username if export.requested_by else None,
            "created_at": export.created_at.isoformat(),
            "software": f"{dicom_seg.MANUFACTURER} {dicom_seg.SOFTWARE_VERSION}",
        }
    }


def file_name(export: Export) -> str:
    what = {
        ExportScope.CASE: export.case.study_id if export.case else "case",
        ExportScope.PROJECT: "project",
        ExportScope.ROUND: f"model-{export.model_version_id}",
        ExportScope.SNAPSHOT: f"snapshot-{export.snapshot.sha256[:12]}" if export.snapshot else "",
    }[export.scope]
    return formats.safe_name(f"{export.project.slug}-{what}-{export.format}-{export.pk}") + ".zip"


def run_export(export_id: int) -> Export:
    """Build the export's zip and store it; failures mark the export failed with the reason."""
    export = _claim(export_id)
    if export is None:
        return Export.objects.get(pk=export_id)
    tmp_dir = Path(settings.FILE_UPLOAD_TEMP_DIR)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix="export-", suffix=".zip", dir=tmp_dir)
    os.close(fd)
    try:
        items = case_items(export)
        Export.objects.filter(pk=export.pk).update(total=len(items))
        with zipfile.ZipFile(tmp_name, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for i, item in enumerate(items, start=1):
                if export.format != ExportFormat.MANIFEST:
                    _write_case(zf, export, item)
                Export.objects.filter(pk=export.pk).update(done=i)
            formats.write_manifest(zf, _header(export), items)
        notes = [f"{item.case.study_id}: {note}" for item in items for note in item.notes]
        if export.file:
            export.file.delete(save=False)
        with open(tmp_name, "rb") as fh:
            export.file.save(file_name(export), File(fh), save=False)
        export.status, export.finished_at = ExportStatus.DONE, timezone.now()
        export.done = export.total = len(items)
        export.notes, export.size_bytes = notes, export.file.size
        export.save(
            update_fields=["status", "finished_at", "done", "total", "notes", "file", "size_bytes"]
        )
        record(
            "export.done",
            obj=export,
            project=export.project,
            actor_label="export",
            cases=len(items),
            targets=sum(len(i.targets) for i in items),
            bytes=export.size_bytes,
        )
    except Exception as exc:
        log.exception("export %s failed", export_id)
        Export.objects.filter(pk=export.pk).update(
            status=ExportStatus.FAILED,
            message=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        record("export.failed", obj=export, project=export.project, error=str(exc)[:500])
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    export.refresh_from_db()
    return export


def require_downloadable(export: Export) -> None:
    if export.status != ExportStatus.DONE or not export.file:
        raise Conflict(
            f"export {export.pk} is {export.status}; download it once it is done",
            code="export_not_ready",
        )


def export_subjects(
    project: Project, *, training_round: int | None, case: int | None, model_version: int | None
) -> tuple[Case | None, ModelVersion | None, Snapshot | None]:
    """The case, model version and round snapshot an export request names by id, each checked
    to exist (and to belong to the project where it has one)."""
    found_case = found_model = snapshot = None
    if training_round is not None:
        round_ = TrainingRound.objects.filter(project=project, pk=training_round).first()
        if round_ is None:
            raise InvalidInput(f"project {project.slug} has no round {training_round}")
        snapshot = round_.snapshot
    if case is not None:
        found_case = Case.objects.filter(project=project, pk=case).first()
        if found_case is None:
            raise InvalidInput(f"project {project.slug} has no case {case}")
    if model_version is not None:
        found_model = ModelVersion.objects.filter(pk=model_version).first()
        if found_model is None:
            raise InvalidInput(f"there is no model version {model_version}")
    return found_case, found_model, snapshot
