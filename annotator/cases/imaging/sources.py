"""From paths/uploads to ImageVolumes: find files, sniff them, read every header, check every
series, and only then decode pixels. Scratch files live in one temp folder that is always
removed, whether the import succeeds or is rejected."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from .archive import copy_stream, extract_zip, is_junk
from .dicom_files import (
    NON_IMAGE_MODALITIES,
    SourceFile,
    has_pixel_module,
    is_directory_record,
    looks_like_dicom,
    number_of_frames,
    read_header,
)
from .dicom_multiframe import plan_multiframe
from .dicom_series import plan_series
from .itk_formats import ItkPlan, sniff_itk
from .nifti import gzip_head, load_nifti, sniff_nifti
from .video import VideoPlan, sniff_video
from .volume import ImageVolume, ImportLimits, ImportRejected, Progress

_HEAD_BYTES = 544
ACCEPTED = (
    "DICOM files, NIfTI .nii/.nii.gz, MetaImage .mha/.mhd+.raw, NRRD .nrrd/.nhdr, "
    "MP4/MOV/AVI/MKV/WebM video"
)


@dataclass
class _NiftiPlan:
    source: SourceFile
    compressed: bool
    root: str
    limits: ImportLimits
    notes: list[str]
    source_name: str = ""

    work = 1

    def load(self, advance: Callable[[], None]) -> ImageVolume:
        volume = load_nifti(
            self.source.path, self.source.name, self.compressed, self.limits, self.notes
        )
        volume.source_name = self.source_name
        advance()
        return volume


@dataclass
class _Found:
    dicom: list[tuple[SourceFile, str]] = field(default_factory=list)  # (file, root)
    nifti: list[_NiftiPlan] = field(default_factory=list)
    itk: list[ItkPlan] = field(default_factory=list)  # MetaImage / NRRD headers
    videos: list[VideoPlan] = field(default_factory=list)
    # Files no reader recognised, by display name, with the message that rejects them unless
    # a MetaImage/NRRD header claims them as its data file (.raw, .zraw, .raw.gz).
    unknown: dict[str, tuple[SourceFile, str]] = field(default_factory=dict)
    count: int = 0

    def images(self) -> int:
        return len(self.dicom) + len(self.nifti) + len(self.itk) + len(self.videos)

    def claim(self, name: str) -> SourceFile | None:
        """Take the file with this display name out of the queue, as a header's data file."""
        if name in self.unknown:
            return self.unknown.pop(name)[0]
        for index, (source, _) in enumerate(self.dicom):
            if source.name == name:  # raw voxels that happen to look like DICOM
                return self.dicom.pop(index)[0]
        return None

    def reject_unknown(self) -> None:
        for _, message in self.unknown.values():
            raise ImportRejected(message)


def load_sources(
    paths: Sequence[Path],
    limits: ImportLimits,
    progress: Progress | None = None,
    notes: list[str] | None = None,
) -> list[ImageVolume]:
    """Read DICOM folders/zips/files, NIfTI, MetaImage/NRRD and video files into canonical
    volumes.

    Several series → several volumes. Files that are skipped on purpose (non-image DICOM
    objects, localizers, images without patient geometry) are reported in `notes` when a list
    is given. Any other problem rejects the whole call with ImportRejected."""
    if not paths:
        raise ImportRejected("Nothing to import: give at least one file, folder or zip.")
    notes = notes if notes is not None else []
    with _scratch(limits) as scratch:
        found = _Found()
        for path in paths:
            path = Path(path)
            _add_root(found, path, path.name or str(path), scratch, limits)
        return _build(found, limits, progress, notes)


def load_upload(
    name: str,
    fileobj_or_path,
    limits: ImportLimits,
    progress: Progress | None = None,
    notes: list[str] | None = None,
) -> list[ImageVolume]:
    """One uploaded file (.zip, .nii, .nii.gz, .dcm, .mha, .nrrd, .mp4, .avi — recognised by
    content), given as a path or a binary file object (anything with .read() or Django's
    .chunks())."""
    display = Path(str(name).replace("\\", "/")).name or "upload"
    notes = notes if notes is not None else []
    with _scratch(limits) as scratch:
        if hasattr(fileobj_or_path, "temporary_file_path"):  # Django's on-disk upload
            fileobj_or_path = fileobj_or_path.temporary_file_path()
        if isinstance(fileobj_or_path, str | os.PathLike):
            path = Path(fileobj_or_path)
            if not path.is_file():
                raise ImportRejected(f"{display}: the uploaded file is missing.")
        else:
            path = scratch / "upload"
            copy_stream(fileobj_or_path, path, display, limits.max_upload_bytes)
        found = _Found()
        _add_root(found, path, display, scratch, limits)
        return _build(found, limits, progress, notes)


@contextlib.contextmanager
def _scratch(limits: ImportLimits) -> Iterator[Path]:
    """A private temp folder (under limits.scratch_dir), removed on exit in every case."""
    if limits.scratch_dir is not None:
        Path(limits.scratch_dir).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="import-", dir=limits.scratch_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _add_root(found: _Found, path: Path, name: str, scratch: Path, limits: ImportLimits) -> None:
    if not path.exists():
        raise ImportRejected(f"{name}: no such file or folder.")
    if path.is_dir():
        before = found.images()
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for file_name in sorted(files):
                full = Path(folder) / file_name
                relative = full.relative_to(path).as_posix()
                if is_junk(relative):
                    continue
                _add_file(found, full, f"{name}/{relative}", name, scratch, limits, in_zip=False)
        if found.images() == before:
            found.reject_unknown()
            raise ImportRejected(f"{name}: the folder contains no DICOM or NIfTI files.")
        return
    if is_junk(name):
        raise ImportRejected(
            f"{name}: is a DICOMDIR/OS index file, not an image; upload the "
            "folder or zip that holds the images."
        )
    _add_file(found, path, name, name, scratch, limits, in_zip=False)


def _add_file(found, path: Path, display: str, root: str, scratch: Path, limits, in_zip: bool):
    """Sniff one file by content and queue it: zip (extracted; not inside another zip), NIfTI
    (plain or gzip), DICOM (with or without the Part-10 preamble), MetaImage/NRRD, video; any
    other file waits in `unknown` (a header may name it as its data file)."""
    found.count += 1
    if found.count > limits.max_members:
        raise ImportRejected(
            f"{root}: more than {limits.max_members} files in one import; split it up."
        )
    size = path.stat().st_size
    if size == 0:
        raise ImportRejected(
            f"{display}: the file is empty (0 bytes). Remove it or upload it again."
        )
    if not in_zip and size > limits.max_upload_bytes:
        raise ImportRejected(
            f"{display}: {size / 1024**3:.1f} GiB is more than the upload limit of "
            f"{limits.max_upload_bytes / 1024**3:.1f} GiB."
        )
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_BYTES)
    source = SourceFile(path, display)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        if in_zip:
            raise ImportRejected(
                f"{display}: a zip inside a zip is not supported; unpack the inner zip and "
                "upload its contents."
            )
        _add_zip(found, source, scratch, limits)
        return
    if head[:2] == b"\x1f\x8b":
        if sniff_nifti(gzip_head(path, display)) is None:
            found.unknown[display] = (
                source,
                f"{display}: is gzip-compressed but not a NIfTI image; only .nii.gz files (and "
                "the data file a .nhdr names) may be gzip-compressed.",
            )
            return
        found.nifti.append(_NiftiPlan(source, True, root, limits, []))
        return
    if sniff_nifti(head) is not None:
        found.nifti.append(_NiftiPlan(source, False, root, limits, []))
        return
    if (demuxer := sniff_video(head)) is not None:
        found.videos.append(VideoPlan(source, demuxer, root, limits))
        return
    if (flavour := sniff_itk(head)) is not None:
        found.itk.append(ItkPlan(source, flavour, root, limits))
        return
    if looks_like_dicom(head):
        found.dicom.append((source, root))
        return
    container = "zip" if in_zip else "folder" if "/" in display else "upload"
    found.unknown[display] = (
        source,
        f"{display}: is neither DICOM nor NIfTI nor another image format this import reads. "
        f"Remove it from the {container} and try again (accepted: {ACCEPTED}, or a zip of them).",
    )


def _add_zip(found: _Found, source: SourceFile, scratch: Path, limits: ImportLimits) -> None:
    dest = scratch / f"zip{len(list(scratch.glob('zip*'))):03d}"
    dest.mkdir()
    members = extract_zip(source.path, source.name, dest, limits)
    if not members:
        raise ImportRejected(
            f"{source.name}: the zip is empty (no files besides OS litter and DICOMDIR)."
        )
    for member in members:
        _add_file(
            found,
            member.path,
            f"{source.name}/{member.name}",
            source.name,
            scratch,
            limits,
            in_zip=True,
        )


def _build(found: _Found, limits: ImportLimits, progress: Progress | None, notes: list[str]):
    done = 0

    def tick(message: str) -> Callable[[], None]:
        def advance() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total, message)

        return advance

    # MetaImage/NRRD headers first: they claim their data files, and what is left unknown
    # rejects the import.
    for plan in found.itk:
        plan.parse().resolve(found.claim)
    found.reject_unknown()
    total = len(found.dicom)

    headers: list[tuple[SourceFile, Dataset, str]] = []
    scanned = tick("reading DICOM headers")
    for source, root in found.dicom:
        ds = read_header(source)
        scanned()
        headers.append((source, ds, root))

    plans: list = []
    plans.extend(_plan_dicom(headers, limits, notes))
    plans.extend(found.nifti)
    plans.extend(found.itk)
    plans.extend(video.probe() for video in found.videos)
    if not plans:
        detail = f" ({'; '.join(notes[:5])})" if notes else ""
        raise ImportRejected(
            "No importable images found: nothing here is a CT/MR/PET volume, a multi-frame "
            f"DICOM object, a NIfTI/MetaImage/NRRD image or a video{detail}."
        )
    _name_sources(plans)
    for plan in plans:
        notes.extend(getattr(plan, "notes", []))
    plans.sort(key=lambda p: p.source_name)
    total += sum(p.work for p in plans)
    volumes = []
    for plan in plans:
        try:
            volumes.append(plan.load(tick(f"reading {plan.source_name}")))
        except MemoryError:
            raise ImportRejected(
                f"{plan.source_name}: decoding it needs more memory than this server can give; "
                "upload a smaller image (or split the series)."
            ) from None
        if isinstance(plan, _NiftiPlan | ItkPlan):
            notes.extend(plan.notes)
    return volumes


def _plan_dicom(headers, limits: ImportLimits, notes: list[str]) -> list:
    plans = []
    skipped: Counter = Counter()
    series: dict[str, list] = defaultdict(list)
    seen_sop: set[str] = set()
    for source, ds, root in headers:
        if is_directory_record(ds):
            continue
        modality = str(ds.get("Modality", "") or "").upper()
        if not has_pixel_module(ds) or modality in NON_IMAGE_MODALITIES:
            skipped[modality or "no pixel data"] += 1
            continue
        sop = str(ds.get("SOPInstanceUID", "") or "")
        if sop and sop in seen_sop:
            notes.append(f"{source.name}: skipped, the same image (SOP instance) appears twice")
            continue
        seen_sop.add(sop)
        if number_of_frames(ds) > 1 or "PerFrameFunctionalGroupsSequence" in ds:
            result = plan_multiframe(source, ds, root, limits)
        else:
            # One series may span folders; files without a series UID group per root only.
            key = str(ds.get("SeriesInstanceUID", "") or "") or "\0" + root
            series[key].append((source, ds, root))
            continue
        if isinstance(result, str):
            notes.append(result)
        else:
            plans.append(result)
    for members in series.values():
        result = plan_series([(s, d) for s, d, _ in members], members[0][2], limits)
        if isinstance(result, str):
            notes.append(result)
        else:
            plans.append(result)
    if skipped:
        kinds = ", ".join(f"{n} {m}" for m, n in sorted(skipped.items()))
        notes.append(f"skipped {sum(skipped.values())} non-image DICOM object(s): {kinds}")
    return plans


def _name_sources(plans: list) -> None:
    """source_name: the NIfTI or multi-frame file, or the folder holding a series; a DICOM
    volume that is the only one from its zip/folder/file is named after that instead."""
    per_root = Counter(p.root for p in plans if not isinstance(p, _FILE_PLANS))
    for plan in plans:
        if isinstance(plan, _FILE_PLANS):
            plan.source_name = plan.source.name
        elif per_root[plan.root] == 1:
            plan.source_name = plan.root
        elif hasattr(plan, "folder"):
            plan.source_name = plan.folder
        else:
            plan.source_name = plan.source.name
    names = Counter(p.source_name for p in plans)
    repeats: Counter = Counter()
    for plan in sorted(plans, key=_series_order):
        if names[plan.source_name] > 1:
            repeats[plan.source_name] += 1
            plan.source_name = f"{plan.source_name}#{repeats[plan.source_name]}"


_FILE_PLANS = (_NiftiPlan, ItkPlan, VideoPlan)  # one image per file, named after the file


def _series_order(plan) -> tuple:
    dicom = getattr(plan, "dicom", None)
    return (plan.source_name, dicom.series_uid if dicom else "")
