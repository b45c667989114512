"""Import studies into a project: read → check everything → write files → one DB transaction.

Nothing is half-imported: every input and every CSV row is validated before the first file is
written, files are written atomically, and if the database transaction fails the written files
are removed again. A series that is already in the project is skipped and reported, not
duplicated.
"""

from __future__ import annotations

import hashlib
import hmac
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from annotator.audit.services import record
from annotator.core.errors import InvalidInput
from annotator.projects.models import Project

from . import imaging
from .models import Case, CaseStatus, Image

Progress = Callable[[int, int, str], None]


@dataclass
class ImportReport:
    cases: list[Case] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    targets: int = 0

    def as_dict(self) -> dict:
        return {
            "created": [{"id": c.pk, "study_id": c.study_id} for c in self.cases],
            "skipped": self.skipped,
            "targets": self.targets,
        }


def limits() -> imaging.ImportLimits:
    return imaging.ImportLimits(
        max_upload_bytes=settings.IMPORT_MAX_UPLOAD_BYTES,
        max_uncompressed_bytes=settings.IMPORT_MAX_UNCOMPRESSED_BYTES,
        max_members=settings.IMPORT_MAX_MEMBERS,
        max_compression_ratio=settings.IMPORT_MAX_COMPRESSION_RATIO,
        max_voxels=settings.IMPORT_MAX_VOXELS,
    )


def pseudonym_key() -> bytes:
    if settings.PSEUDONYM_KEY:
        return settings.PSEUDONYM_KEY.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"pseudonym-key", hashlib.sha256).digest()


def keyed_fingerprint(source_fingerprint: str) -> str:
    return hmac.new(pseudonym_key(), source_fingerprint.encode(), hashlib.sha256).hexdigest()


def study_id_for(keyed: str) -> str:
    return f"ST-{keyed[:10].upper()}"


def _case_key(name: str) -> str:
    """How a CSV row names a source: its file or folder name without image extensions."""
    base = Path(name).name
    for suffix in (".nii.gz", ".nii", ".dcm", ".zip"):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


@dataclass
class _Planned:
    volume: imaging.ImageVolume
    keyed: str
    study_id: str
    rows: list = field(default_factory=list)


def _plan(project: Project, volumes, rows) -> tuple[list[_Planned], list[str]]:
    planned: list[_Planned] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for volume in volumes:
        if volume.kind != project.kind:
            wanted = "3D volumes" if project.kind == "volume" else "video clips"
            raise InvalidInput(
                f"{volume.source_name}: project {project.slug} takes {wanted}, and this is a "
                f"{volume.kind} ({volume.description})"
            )
        keyed = keyed_fingerprint(volume.fingerprint)
        study_id = study_id_for(keyed)
        if keyed in seen or Case.objects.filter(project=project, fingerprint=keyed).exists():
            skipped.append(f"{volume.source_name}: already in the project as {study_id}")
            continue
        seen.add(keyed)
        planned.append(_Planned(volume, keyed, study_id))
    by_key: dict[str, _Planned] = {}
    for item in planned:
        by_key.setdefault(_case_key(item.volume.source_name), item)
        by_key.setdefault(item.study_id, item)
    unmatched = []
    for row in rows:
        item = by_key.get(row.case) or by_key.get(_case_key(row.case))
        if item is None:
            unmatched.append(f"line {row.line}: no imported case matches {row.case!r}")
            continue
        _check_row(project, item.volume, row)
        item.rows.append(row)
    if unmatched:
        known = sorted({_case_key(p.volume.source_name) for p in planned})
        raise InvalidInput(
            "the targets CSV names cases that are not in this import: "
            + "; ".join(unmatched[:10])
            + f". Cases in this import: {known}"
        )
    return planned, skipped


def _check_row(project: Project, volume, row) -> None:
    nz, ny, nx = volume.array.shape
    where = f"targets CSV line {row.line}"
    if row.label not in project.label_names():
        raise InvalidInput(f"{where}: unknown label {row.label!r}; known: {project.label_names()}")
    if not 0 <= row.key_index < nz:
        raise InvalidInput(f"{where}: key slice/frame {row.key_index} is outside 0..{nz - 1}")
    x0, y0, x1, y1 = row.box
    if not (0 <= x0 < x1 <= nx and 0 <= y0 < y1 <= ny):
        raise InvalidInput(
            f"{where}: box {list(row.box)} must satisfy 0 <= x0 < x1 <= {nx}, 0 <= y0 < y1 <= {ny}"
        )


def import_volumes(
    project: Project,
    volumes: Sequence[imaging.ImageVolume],
    *,
    actor,
    target_rows: Sequence = (),
    progress: Progress | None = None,
) -> ImportReport:
    from annotator.annotations.models import Target

    planned, skipped = _plan(project, volumes, target_rows)
    report = ImportReport(skipped=skipped)
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
                for row in item.rows:
                    Target.objects.create(
                        case=case,
                        label=row.label,
                        key_index=row.key_index,
                        box=[float(v) for v in row.box],
                        points=[],
                        created_by=actor,
                    )
                    report.targets += 1
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
        "modality": ref.modality,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _after_import(cases: list[Case], actor) -> None:
    """Queue pre-segmentation for cases whose targets have prompts; others are ready at once."""
    from annotator.cases import services as case_services

    for case in cases:
        queued = False
        if settings.AUTO_PRESEGMENT:
            queued = _queue_presegmentation(case, actor)
        if not queued and case.status == CaseStatus.NEW:
            case_services.transition(case, CaseStatus.READY, actor=actor, reason="imported")


def _queue_presegmentation(case: Case, actor) -> bool:
    """Hook for the inference app; returns whether pre-segmentation was queued."""
    try:
        from annotator.annotations.presegment import queue_case
    except ImportError:
        return False
    return queue_case(case, actor=actor)


def import_paths(
    project: Project,
    paths: Sequence[Path],
    *,
    actor,
    targets_csv: Path | str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Read the given files/folders/zips (and optional targets CSV) and import them."""
    if not paths:
        raise InvalidInput("nothing to import: give at least one file, folder or zip")
    try:
        rows = imaging.parse_targets_csv(targets_csv) if targets_csv is not None else []
        volumes = imaging.load_sources([Path(p) for p in paths], limits(), progress)
    except imaging.ImportRejected as exc:
        raise InvalidInput(str(exc), code="import_rejected") from exc
    return import_volumes(project, volumes, actor=actor, target_rows=rows, progress=progress)


_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def _safe_name(name: str, index: int) -> str:
    base = "".join(c if c in _SAFE else "_" for c in Path(name or "").name).lstrip(".")
    return base or f"upload-{index}"


def import_uploads(project: Project, files, *, targets=None, actor) -> ImportReport:
    """Import files uploaded through the API (each a DICOM file, zip or NIfTI)."""
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
