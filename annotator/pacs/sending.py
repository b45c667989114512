"""Accepted masks back to the PACS: a DICOM SEG (the export's, referencing the source series)
sent by STOW-RS to a server linked to the project, per case on acceptance (the link's
`send_on_accept`) or on request.

The SEG of an export leaves the patient and study attributes empty (de-identified). A PACS
files objects by patient, and beside the source study an empty PatientID is a conflict, so for
STOW only the send reads them at send time from the source series' WADO-RS metadata — on the
destination first, then on the project's import servers — sets them on the SEG in memory and
forgets them. Nothing of them is stored; downloads stay de-identified.

Attempts: a transient failure (connection, timeout, 5xx, 429) is retried with exponential
backoff (DICOMWEB_SEND_RETRY_SECONDS doubled per attempt, at most DICOMWEB_SEND_RETRY_MAX_SECONDS)
up to DICOMWEB_SEND_ATTEMPTS attempts; credentials, refusals and cases without a SEG fail at
once. Each attempt's error is kept on the send (`errors`) and in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import io
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydicom.dataset import Dataset

from annotator.annotations.selectors import revision_mask
from annotator.audit.services import record
from annotator.cases.models import Case, CaseStatus
from annotator.core.errors import DomainError, InvalidInput
from annotator.metrics.exports import dicom_seg
from annotator.metrics.exports.selection import case_items
from annotator.metrics.models import Export, ExportFormat, ExportScope
from annotator.projects import policy
from annotator.projects.models import Project

from . import selectors
from .client import Client, DicomWebError
from .models import JobStatus, ProjectServer, SegSend

log = logging.getLogger(__name__)
PATIENT_STUDY = (*dicom_seg._PATIENT_STUDY, "IssuerOfPatientID", "StudyDescription")
OPEN = (JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.RUNNING)


def attempts_allowed() -> int:
    return int(getattr(settings, "DICOMWEB_SEND_ATTEMPTS", 5))


def backoff(attempt: int) -> float:
    base = float(getattr(settings, "DICOMWEB_SEND_RETRY_SECONDS", 30))
    cap = float(getattr(settings, "DICOMWEB_SEND_RETRY_MAX_SECONDS", 3600))
    return min(cap, base * 2 ** max(0, attempt - 1))


def _create(case: Case, link: ProjectServer, trigger: str, actor) -> SegSend:
    send = SegSend.objects.create(
        project_id=case.project_id,
        case=case,
        server=link.server,
        trigger=trigger,
        requested_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    record("dicomweb.send.queued", actor=actor, obj=send, project=case.project_id,
           case=case.study_id, server=link.server.name, trigger=trigger)  # fmt: skip
    return send


def _enqueue(ids: list[int]) -> None:
    from . import tasks

    for pk in ids:
        tasks.run_send.delay(pk)


def queue_on_accept(case: Case) -> list[SegSend]:
    """The acceptance policy: one send per destination that asks for it (a case that cannot
    become a SEG — not DICOM, a clip — is noted in the audit trail instead)."""
    destinations = ProjectServer.objects.filter(
        project_id=case.project_id, send_to=True, send_on_accept=True
    ).select_related("server")
    if not destinations:
        return []
    case = Case.objects.select_related("image").get(pk=case.pk)
    reason = dicom_seg.refusal(case.image)
    if reason:
        record("dicomweb.send.not_possible", project=case.project_id, actor_label="dicomweb",
               case=case.study_id, reason=reason)  # fmt: skip
        return []
    with transaction.atomic():
        sends = [_create(case, link, SegSend.Trigger.ACCEPTED, None) for link in destinations]
        ids = [s.pk for s in sends]
        transaction.on_commit(lambda: _enqueue(ids))
    return sends


def request_sends(
    actor, project: Project, server_name: str, case_ids: list[int] | None = None
) -> list[SegSend]:
    """Send the given cases (or every accepted case of the project) now."""
    policy.require(actor, "dicomweb.use", project)
    link = selectors.link(project, server_name, purpose="send")
    cases = Case.objects.filter(project=project).select_related("image").order_by("pk")
    if case_ids:
        cases = cases.filter(pk__in=case_ids)
        missing = set(case_ids) - set(cases.values_list("pk", flat=True))
        if missing:
            raise InvalidInput(f"project {project.slug} has no case {sorted(missing)}")
        for case in cases:
            reason = dicom_seg.refusal(case.image)
            if reason:
                raise InvalidInput(
                    f"case {case.study_id} cannot be sent as DICOM SEG: {reason}",
                    code="dicom_seg_unavailable",
                )
    else:
        cases = [
            c for c in cases.filter(status=CaseStatus.ACCEPTED) if not dicom_seg.refusal(c.image)
        ]
        if not cases:
            raise InvalidInput(f"project {project.slug} has no accepted DICOM case to send")
    with transaction.atomic():
        sends = [_create(case, link, SegSend.Trigger.REQUEST, actor) for case in cases]
        ids = [s.pk for s in sends]
        transaction.on_commit(lambda: _enqueue(ids))
    return sends


def retry_send(actor, send: SegSend) -> SegSend:
    policy.require(actor, "dicomweb.use", send.project)
    if send.status != JobStatus.FAILED:
        raise InvalidInput(f"send {send.pk} is {send.status}; only a failed send is retried")
    SegSend.objects.filter(pk=send.pk).update(
        status=JobStatus.QUEUED, attempts=0, next_attempt_at=None, message=""
    )
    record("dicomweb.send.requeued", actor=actor, obj=send, project=send.project_id)
    transaction.on_commit(lambda: _enqueue([send.pk]))
    send.refresh_from_db()
    return send


def _claim(pk: int) -> SegSend | None:
    with transaction.atomic():
        send = SegSend.objects.select_for_update().select_related("server", "case").get(pk=pk)
        if send.status not in OPEN:
            return None
        send.status, send.attempts = JobStatus.RUNNING, send.attempts + 1
        send.next_attempt_at = None
        send.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
        return send


def build_seg(case: Case):
    """The case's accepted masks as a highdicom Segmentation (the export's builder)."""
    probe = Export(project=case.project, scope=ExportScope.CASE, case=case,
                   format=ExportFormat.DICOM_SEG, options={})  # fmt: skip
    items = case_items(probe)
    if not items:
        raise InvalidInput(f"case {case.study_id} has no accepted mask to send", code="nothing")
    item = items[0]
    try:
        return dicom_seg.build_segmentation(item, [revision_mask(t.revision) for t in item.targets])
    except dicom_seg.SegRefused as exc:
        raise InvalidInput(str(exc), code="dicom_seg_unavailable") from None


def source_patient(send: SegSend, ref: dict) -> tuple[Dataset | None, str]:
    """The patient and study attributes of the source series, read from WADO-RS metadata on
    the destination, else on the project's import servers; (None, "") when none has it."""
    servers = [send.server] + [
        link.server
        for link in ProjectServer.objects.filter(project_id=send.project_id, import_from=True)
        .exclude(server=send.server)
        .select_related("server")
    ]
    for server in servers:
        try:
            with Client(server) as client:
                found = client.series_metadata(ref["study_uid"], ref["series_uid"])
        except DicomWebError as exc:
            if server == send.server and exc.code != "dicomweb_not_found":
                raise
            continue
        if found:
            source = Dataset.from_json(found[0])
            kept = Dataset()
            for keyword in PATIENT_STUDY:
                if keyword in source:
                    setattr(kept, keyword, source[keyword].value)
            return kept, server.name
    return None, ""


def attempt_send(pk: int) -> SegSend:
    """One attempt; leaves the send sent, retrying (with `next_attempt_at`) or failed."""
    send = _claim(pk)
    if send is None:
        return SegSend.objects.get(pk=pk)
    case = Case.objects.select_related("image", "project").get(pk=send.case_id)
    try:
        seg = build_seg(case)
        patient, patient_from = source_patient(send, case.image.dicom)
        if patient is not None:
            for element in patient:
                seg[element.tag] = element
        buffer = io.BytesIO()
        seg.save_as(buffer, enforce_file_format=True)
        with Client(send.server) as client:
            client.store(seg.StudyInstanceUID, buffer.getvalue())
    except DomainError as exc:
        return _failed(send, case, exc)
    except Exception as exc:
        log.exception("DICOMweb send %s failed", pk)
        return _failed(send, case, DomainError(f"{type(exc).__name__}: {exc}", code="error"))
    send.status, send.sent_at, send.message = JobStatus.DONE, timezone.now(), ""
    send.seg_series_uid, send.seg_sop_uid = seg.SeriesInstanceUID, seg.SOPInstanceUID
    send.patient_from = patient_from
    send.save()
    record("dicomweb.send.done", obj=send, project=send.project_id, actor_label="dicomweb",
           case=case.study_id, server=send.server.name, attempt=send.attempts,
           seg_series=send.seg_series_uid,
           patient_attributes="from " + patient_from if patient_from else "empty")  # fmt: skip
    return send


def _failed(send: SegSend, case: Case, exc: DomainError) -> SegSend:
    message = str(exc.message)[:1000]
    send.errors = [*send.errors, {"attempt": send.attempts, "at": timezone.now().isoformat(),
                                  "code": exc.code, "message": message}][-20:]  # fmt: skip
    send.message = message
    transient = getattr(exc, "transient", False)
    if transient and send.attempts < attempts_allowed():
        delay = backoff(send.attempts)
        send.status = JobStatus.RETRYING
        send.next_attempt_at = timezone.now() + dt.timedelta(seconds=delay)
        action = "dicomweb.send.retry"
    else:
        send.status = JobStatus.FAILED
        action = "dicomweb.send.failed"
    send.save()
    record(
        action,
        obj=send,
        project=send.project_id,
        actor_label="dicomweb",
        case=case.study_id,
        server=send.server.name,
        attempt=send.attempts,
        code=exc.code,
        reason=message[:500],
    )
    return send
