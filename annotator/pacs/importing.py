"""Series imports over DICOMweb: QIDO-RS lists the instances, WADO-RS streams them to a scratch
folder (one file per instance, bounded memory), then the folder goes through the same import
service as an upload (cases.importing.import_paths: checks, de-identification, one
transaction). Nothing of the server's headers is kept beyond what that service keeps.

Resumable: the scratch folder is named after the import; a redelivered task (worker restart)
keeps the instances already on disk and fetches only the missing ones. A failure (credentials,
a missing series, a server that goes away, a refused import) marks the import failed with the
reason, removes the scratch folder and keeps no case.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator.audit.services import record
from annotator.cases import importing
from annotator.cases.imaging.dicom_plan import uid_fingerprint
from annotator.cases.models import Case
from annotator.core.errors import DomainError
from annotator.projects import policy
from annotator.projects.models import Project

from . import selectors
from .client import Client, check_uid
from .models import JobStatus, SeriesImport

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]
FINISHED = (JobStatus.DONE, JobStatus.SKIPPED, JobStatus.FAILED)


def request_import(
    actor,
    project: Project,
    server_name: str,
    study_uid: str,
    series_uids: list[str] | None = None,
    *,
    queue: bool = True,
) -> list[SeriesImport]:
    """One import per series (all series of the study when none are named), queued on the
    `default` Celery queue after commit; `queue=False` leaves them for the caller to run
    (the CLI, with its progress bar)."""
    if actor is not None:  # the CLI (manage.py import_dicomweb) has no person behind it
        policy.require(actor, "dicomweb.use", project)
        policy.require(actor, "case.import", project)
    link = selectors.link(project, server_name, purpose="import")
    study_uid = check_uid(study_uid, "study")
    series_uids = [check_uid(s, "series") for s in series_uids or []]
    if not series_uids:
        with Client(link.server) as client:
            series_uids = client.study_series(study_uid)
    jobs = []
    with transaction.atomic():
        for series_uid in dict.fromkeys(series_uids):
            job = SeriesImport.objects.create(
                project=project,
                server=link.server,
                study_uid=study_uid,
                series_uid=series_uid,
                requested_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
            record("dicomweb.import.request", actor=actor, obj=job, project=project,
                   server=link.server.name, study=study_uid, series=series_uid)  # fmt: skip
            jobs.append(job)
        if queue:
            ids = [job.pk for job in jobs]
            transaction.on_commit(lambda: _enqueue(ids))
    return jobs


def _enqueue(ids: list[int]) -> None:
    from . import tasks

    for pk in ids:
        result = tasks.run_import.delay(pk)
        SeriesImport.objects.filter(pk=pk, task_id="").update(task_id=result.id or "")


def scratch(job: SeriesImport) -> Path:
    return Path(settings.FILE_UPLOAD_TEMP_DIR) / "dicomweb" / f"import-{job.pk}"


def _claim(pk: int) -> SeriesImport | None:
    with transaction.atomic():
        job = (
            SeriesImport.objects.select_for_update().select_related("server", "project").get(pk=pk)
        )
        if job.status in FINISHED:
            return None
        if job.status == JobStatus.QUEUED:
            job.started_at = timezone.now()
        job.status = JobStatus.RUNNING
        job.save(update_fields=["status", "started_at", "updated_at"])
        return job


def already_imported(job: SeriesImport) -> str | None:
    """The study id of the case this series already is in the project, known from its UIDs
    before a byte is fetched; None if it is new."""
    ref = SimpleNamespace(
        study_uid=job.study_uid, series_uid=job.series_uid, sop_instance_uids=job.instances
    )
    for source_format in ("dicom-series", "dicom-multiframe"):
        keyed = importing.keyed_fingerprint(uid_fingerprint(source_format, ref))
        case = Case.objects.filter(project=job.project, fingerprint=keyed).first()
        if case is not None:
            return case.study_id
    return None


def run_import(pk: int, *, progress: Progress | None = None) -> SeriesImport:
    job = _claim(pk)
    if job is None:
        return SeriesImport.objects.get(pk=pk)
    folder = scratch(job)
    folder.mkdir(parents=True, exist_ok=True)
    keep_folder = False
    try:
        with Client(job.server) as client:
            if not job.instances:
                job.instances = client.series_instances(job.study_uid, job.series_uid)
                job.total = len(job.instances)
                job.save(update_fields=["instances", "total", "updated_at"])
            found = already_imported(job)
            if found:
                return _finish(job, JobStatus.SKIPPED, f"already in the project as {found}")
            _fetch(client, job, folder, progress)
        if progress:
            progress(job.total, job.total, "importing")
        report = importing.import_paths(job.project, [folder], actor=job.requested_by)
        answer = report.as_dict()
        answer["notes"] = [n.replace(folder.name, "series") for n in answer["notes"]]
        answer["skipped"] = [n.replace(folder.name, "series") for n in answer["skipped"]]
        job.report = answer
        if report.cases:
            job.case = report.cases[0]
            return _finish(job, JobStatus.DONE, f"imported as {job.case.study_id}")
        return _finish(job, JobStatus.SKIPPED, "; ".join(answer["skipped"]) or "nothing new")
    except DomainError as exc:
        return _fail(job, str(exc.message), getattr(exc, "code", "invalid"))
    except (KeyboardInterrupt, SystemExit):
        keep_folder = True  # a stopped worker: the redelivered task continues from here
        raise
    except Exception as exc:
        log.exception("DICOMweb import %s failed", pk)
        return _fail(job, f"{type(exc).__name__}: {exc}", "error")
    finally:
        if not keep_folder:
            shutil.rmtree(folder, ignore_errors=True)


def _fetch(client: Client, job: SeriesImport, folder: Path, progress: Progress | None) -> None:
    """Bring every instance of the series into `folder`; those already there stay."""
    expected = set(job.instances)
    for stray in folder.iterdir():
        if stray.suffix != ".dcm" or stray.stem not in expected:
            stray.unlink()
    have = {p.stem for p in folder.glob("*.dcm")}
    state = {"done": len(have), "bytes": job.bytes_received, "at": 0.0}

    def tick(sop: str, size: int) -> None:
        if sop not in expected:
            return
        if sop not in have:
            have.add(sop)
            state["done"] = len(have)
        state["bytes"] += size
        now = time.monotonic()
        if now - state["at"] > 0.5 or state["done"] == job.total:
            state["at"] = now
            SeriesImport.objects.filter(pk=job.pk).update(
                done=state["done"], bytes_received=state["bytes"], updated_at=timezone.now()
            )
        if progress:
            progress(state["done"], job.total, "fetching")

    base = f"studies/{job.study_uid}/series/{job.series_uid}"
    what = f"series {job.series_uid}"
    if not have:
        client.retrieve(base, folder, what=what, on_instance=tick)
    else:  # resumed: only what is missing, one instance at a time
        for sop in job.instances:
            if sop not in have:
                client.retrieve(f"{base}/instances/{sop}", folder, what=what, on_instance=tick)
    missing = expected - {p.stem for p in folder.glob("*.dcm")}
    if missing:
        raise client._error(
            f"{what}: the server sent {job.total - len(missing)} of its {job.total} instances",
            True,
            "dicomweb_incomplete",
        )
    SeriesImport.objects.filter(pk=job.pk).update(
        done=job.total, bytes_received=state["bytes"], updated_at=timezone.now()
    )
    job.done, job.bytes_received = job.total, state["bytes"]


def _finish(job: SeriesImport, status: str, message: str) -> SeriesImport:
    job.status, job.message, job.finished_at = status, message, timezone.now()
    job.save()
    record(f"dicomweb.import.{status}", obj=job, project=job.project_id,
           actor_label="dicomweb", case=job.case.study_id if job.case else None,
           message=message[:500])  # fmt: skip
    return job


def _fail(job: SeriesImport, message: str, code: str) -> SeriesImport:
    job.refresh_from_db()
    job.status, job.message, job.finished_at = JobStatus.FAILED, message[:2000], timezone.now()
    job.save()
    record("dicomweb.import.failed", obj=job, project=job.project_id, actor_label="dicomweb",
           code=code, reason=message[:500])  # fmt: skip
    return job
