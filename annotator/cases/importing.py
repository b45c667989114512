"""Import studies into a project: read → check everything → write files → one DB transaction.

Nothing is half-imported: every input and every CSV row is validated before the first file is
written, files are written atomically, and if the database transaction fails the written files
are removed again. A series that is already in the project is skipped and reported, not
duplicated.

The report keeps three lists apart: `created` (the new cases), `skipped` (inputs that made no
case because they are already in the project) and `notes` (what the readers changed or left out
while reading, e.g. NaN voxels set to 0 or non-image DICOM files ignored).

Modality: a project has one (CT, MR, PT, US or OT). A DICOM source declares its own, and one of
another modality is refused, naming both. NIfTI, MetaImage, NRRD and video files declare none,
so they take the project's modality (a volume's display window follows it; an 8-bit clip keeps
0..255).

Kind: a volume project takes volumes, a video project clips. A 3-D MetaImage/NRRD without a
time marker may be a 2-D+t sequence (CAMUS): a video project takes it as a clip.

A refused import (policy, limits, unreadable or mismatched input) leaves an `import.refused`
audit event with the reason; nothing else is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from annotator.audit.services import record
from annotator.core.errors import DomainError, InvalidInput, PayloadTooLarge
from annotator.projects import policy
from annotator.projects.models import Project

from . import events, imaging, services
from .imaging import geometry
from .models import Case, CaseStatus, Image

Progress = Callable[[int, int, str], None]


@dataclass
class ImportReport:
    cases: list[Case] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # inputs already in the project
    targets: int = 0
    notes: list[str] = field(default_factory=list)  # what reading changed or left out

    def as_dict(self) -> dict:
        return {
            "created": [{"id": c.pk, "study_id": c.study_id} for c in self.cases],
            "skipped": self.skipped,
            "notes": self.notes,
            "targets": self.targets,
        }


@contextlib.contextmanager
def refusals_audited(project: Project, actor, **data) -> Iterator[None]:
    """Record a refused import (a DomainError raised inside) as `import.refused`, with its code
    and reason, then let the error go on. Nested uses record it once."""
    try:
        yield
    except DomainError as exc:
        if not getattr(exc, "import_refusal_recorded", False):
            exc.import_refusal_recorded = True
            record(
                "import.refused",
                actor=actor,
                project=project,
                code=exc.code,
                status=exc.status,
                reason=str(exc.message)[:1000],
                **data,
            )
        raise


# Formats that carry no modality: their images take the project's.
MODALITY_FREE_FORMATS = ("nifti", "metaimage", "nrrd", "video")


def check_modality(project: Project, volume: imaging.ImageVolume) -> None:
    """The project's modality rule (module docstring): refuse a DICOM source of another
    modality; give an image without a modality of its own (NIfTI, ...) the project's."""
    if volume.modality == project.modality:
        return
    if volume.source_format in MODALITY_FREE_FORMATS:
        volume.modality = project.modality
        if volume.kind != "video" or volume.array.dtype != np.uint8:
            volume.window = geometry.computed_window(volume.array, project.modality)
        shape, spacing = volume.array.shape, volume.spacing
        volume.description = geometry.describe(
            project.modality, volume.kind, shape, spacing, volume.frame_rate
        )
        return
    raise InvalidInput(
        f"{volume.source_name}: this is a {volume.modality} series ({volume.description}) and "
        f"project {project.slug} takes {project.modality} only; import it into a "
        f"{volume.modality} project",
        code="wrong_modality",
    )


def limits() -> imaging.ImportLimits:
    return imaging.ImportLimits(
        max_upload_bytes=settings.IMPORT_MAX_UPLOAD_BYTES,
        max_uncompressed_bytes=settings.IMPORT_MAX_UNCOMPRESSED_BYTES,
        max_members=settings.IMPORT_MAX_MEMBERS,
        max_compression_ratio=settings.IMPORT_MAX_COMPRESSION_RATIO,
        max_voxels=settings.IMPORT_MAX_VOXELS,
        scratch_dir=Path(settings.FILE_UPLOAD_TEMP_DIR),
    )


def pseudonym_key() -> bytes:
    if settings.PSEUDONYM_KEY:
        return settings.PSEUDONYM_KEY.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"pseudonym-key", hashlib.sha256).digest()


def keyed_fingerprint(source_fingerprint: str) -> str:
    """Stored to spot re-imports; the pseudonymous study id is its first 10 hex digits."""
    return hmac.new(pseudonym_key(), source_fingerprint.encode(), hashlib.sha256).hexdigest()


@dataclass
class _Planned:
    volume: imaging.ImageVolume
    keyed: str
    study_id: str
    rows: list = field(default_factory=list)


def _plan(project: Project, volumes, rows, notes: list[str]) -> tuple[list[_Planned], list[str]]:
    """Check every volume and CSV row before anything is written; drop re-imports."""
    volumes = [_as_project_kind(project, v, notes) for v in volumes]
    try:
        rows_per_volume = imaging.match_targets(rows, volumes)
    except imaging.ImportRejected as exc:
        raise InvalidInput(str(exc), code="import_rejected") from exc
    planned: list[_Planned] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for volume, volume_rows in zip(volumes, rows_per_volume, strict=True):
        if volume.kind != project.kind:
            wanted = "3D volumes" if project.kind == "volume" else "video clips"
            raise InvalidInput(
                f"{volume.source_name}: project {project.slug} takes {wanted}, and this is a "
                f"{volume.kind} ({volume.description})"
            )
        check_modality(project, volume)
        for row in volume_rows:
            if row.label not in project.label_names():
                raise InvalidInput(
                    f"targets CSV line {row.line}: unknown label {row.label!r}; this project's "
                    f"labels are {project.label_names()}"
                )
        keyed = keyed_fingerprint(volume.fingerprint)
        study_id = imaging.pseudonym(volume.fingerprint, pseudonym_key())
        if keyed in seen or Case.objects.filter(project=project, fingerprint=keyed).exists():
            note = f"{volume.source_name}: already in the project as {study_id}"
            if volume_rows:
                note += f"; its {len(volume_rows)} CSV target(s) were not added"
            skipped.append(note)
            continue
        seen.add(keyed)
        planned.append(_Planned(volume, keyed, study_id, list(volume_rows)))
    return planned, skipped


def _as_project_kind(project: Project, volume, notes: list[str]):
    """A 3-D MetaImage/NRRD that may be a 2-D+t sequence becomes a clip in a video project."""
    if project.kind == "video" and volume.kind == "volume" and volume.may_be_clip:
        clip = imaging.as_clip(volume)
        notes.append(
            f"{volume.source_name}: 3-D image read as a 2-D+t sequence of "
            f"{clip.array.shape[0]} frames (frame rate unknown)"
        )
        return clip
    return volume


def import_volumes(
    project: Project,
    volumes: Sequence[imaging.ImageVolume],
    *,
    actor,
    target_rows: Sequence = (),
    progress: Progress | None = None,
) -> ImportReport:
    notes: list[str] = []
    planned, skipped = _plan(project, volumes, target_rows, notes)
    report = ImportReport(skipped=skipped, notes=notes)
    written: list[str] = []
    try:
        records = []
        with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
            for i, item in enumerate(planned):
                if progress:
                    progress(i, len(planned), f"writing {item.study_id}")
                local = Path(tmp) / f"{uuid.uuid4().hex}.nii.gz"
                imaging.write_canonical_nifti(item.volume, local)
                checksum = _sha256(local)
                name = f"images/{project.pk}/{item.study_id}/{uuid.uuid4().hex}.nii.gz"
                with local.open("rb") as fh:
                    written.append(default_storage.save(name, File(fh)))
                records.append((item, written[-1], checksum, local.stat().st_size))
        with transaction.atomic():
            for item, stored, checksum, size in records:
                case = _create_case(project, item, stored, checksum, size, actor)
                responses = events.case_imported.send(
                    Case, case=case, rows=list(item.rows), actor=actor
                )
                report.targets += sum(created or 0 for _, created in responses)
                report.cases.append(case)
            record(
                "import",
                actor=actor,
                project=project,
                cases=[c.study_id for c in report.cases],
                skipped=len(skipped),
                targets=report.targets,
            )
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    if progress:
        progress(len(planned), len(planned), "done")
    transaction.on_commit(lambda: _after_import(report.cases, actor))
    return report


def _create_case(project, item: _Planned, stored: str, checksum: str, size: int, actor) -> Case:
    v = item.volume
    nz, ny, nx = v.array.shape
    case = Case.objects.create(
        project=project,
        study_id=item.study_id,
        fingerprint=item.keyed,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    window = v.window or (None, None)
    Image.objects.create(
        case=case,
        file=stored,
        kind=v.kind,
        modality=v.modality,
        shape=[nx, ny, nz],
        spacing=[float(s) for s in v.spacing],
        origin=[float(o) for o in v.origin],
        direction=[float(d) for d in v.direction],
        dtype=str(v.array.dtype),
        frame_count=nz if v.kind == "video" else None,
        frame_rate=v.frame_rate,
        window_center=window[0],
        window_width=window[1],
        source_format=v.source_format,
        description=v.description[:300],
        metadata=v.metadata,
        dicom=_dicom_json(v.dicom),
        checksum=checksum,
        size_bytes=size,
    )
    record("case.import", actor=actor, obj=case, project=project, source=v.source_format)
    return case


def _dicom_json(ref) -> dict | None:
    if ref is None:
        return None
    return {
        "study_uid": ref.study_uid,
        "series_uid": ref.series_uid,
        "frame_of_reference_uid": ref.frame_of_reference_uid,
        "sop_class_uid": ref.sop_class_uid,
        "sop_instance_uids": list(ref.sop_instance_uids),
        "frame_numbers": list(ref.frame_numbers) if ref.frame_numbers else None,
        "modality": ref.modality,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _after_import(cases: list[Case], actor) -> None:
    """Let subscribers queue work for each new case (pre-segmentation of prompted targets);
    a case nobody took is ready at once."""
    for case in cases:
        responses = events.import_committed.send(Case, case=case, actor=actor)
        queued = any(taken for _, taken in responses)
        if not queued and case.status == CaseStatus.NEW:
            services.transition(case, CaseStatus.READY, actor=actor, reason="imported")


def import_paths(
    project: Project,
    paths: Sequence[Path],
    *,
    actor,
    targets_csv: Path | str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Read the given files/folders/zips (and optional targets CSV) and import them."""
    with refusals_audited(project, actor, inputs=len(paths)):
        if not paths:
            raise InvalidInput("nothing to import: give at least one file, folder or zip")
        notes: list[str] = []
        try:
            rows = imaging.parse_targets_csv(targets_csv) if targets_csv is not None else []
            volumes = imaging.load_sources([Path(p) for p in paths], limits(), progress, notes)
        except imaging.ImportRejected as exc:
            raise InvalidInput(str(exc), code="import_rejected") from exc
        except MemoryError:
            raise PayloadTooLarge(
                "the import needs more memory than this server can give; nothing was kept. Import "
                "fewer or smaller images at a time."
            ) from None
        report = import_volumes(project, volumes, actor=actor, target_rows=rows, progress=progress)
    report.notes.extend(notes)
    return report


_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def _safe_name(name: str, index: int) -> str:
    base = "".join(c if c in _SAFE else "_" for c in Path(name or "").name).lstrip(".")
    return base or f"upload-{index}"


def import_uploads(project: Project, files, *, targets=None, actor) -> ImportReport:
    """Import files uploaded through the API (each a DICOM file, zip or NIfTI)."""
    with refusals_audited(project, actor, inputs=len(files)):
        policy.require(actor, "case.import", project)
        total = sum(f.size for f in files)
        if total > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise InvalidInput(
                f"the upload is {total} bytes; the limit is {settings.IMPORT_MAX_UPLOAD_BYTES}",
                code="too_large",
            )
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        paths = []
        used: set[str] = set()
        for i, upload in enumerate(files):
            name = _safe_name(upload.name, i)
            while name in used:
                name = f"{i}-{name}"
            used.add(name)
            path = Path(tmp) / name
            with path.open("wb") as fh:
                for chunk in upload.chunks():
                    fh.write(chunk)
            paths.append(path)
        csv_path = None
        if targets is not None:
            csv_path = Path(tmp) / "targets.csv"
            with csv_path.open("wb") as fh:
                for chunk in targets.chunks():
                    fh.write(chunk)
        return import_paths(project, paths, actor=actor, targets_csv=csv_path)
