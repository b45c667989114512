"""Writers: one case's masks into the export zip, in NIfTI or MedSAM2 npz, and the manifest.

Paths inside the zip start with the case's pseudonymous study id. Masks are the stored revision
files (gzip NIfTI in the image's own grid), so NIfTI masks leave byte for byte as stored.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from typing import Any

import numpy as np
from django.core.files.storage import default_storage

from annotator.annotations import masks, measure
from annotator.annotations.selectors import revision_mask
from annotator.cases.selectors import image_header, input_window, load_volume

from .selection import CaseItem, TargetItem


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def read_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()


def target_file_stem(item: TargetItem) -> str:
    return f"target-{item.target.pk}-{safe_name(item.target.label)}"


def label_map(case_item: CaseItem, *, by: str) -> tuple[np.ndarray, list[dict]]:
    """One array per case: by="label" gives each voxel its label's index (1-based, project
    order); by="target" gives each target its own index (1..n, in target order). Where masks
    overlap, the later target wins. Returns the array (z, y, x) and the index legend."""
    nx, ny, nz = case_item.case.image.shape
    n = len(case_item.targets) if by == "target" else max(t.label_index for t in case_item.targets)
    out = np.zeros((nz, ny, nx), np.uint8 if n < 256 else np.uint16)
    legend = []
    for i, item in enumerate(case_item.targets, start=1):
        value = i if by == "target" else item.label_index
        out[revision_mask(item.revision) != 0] = value
        legend.append({"value": value, "target": item.target.pk, "label": item.target.label})
    return out, legend


def write_nifti(zf: zipfile.ZipFile, case_item: CaseItem, options: dict) -> None:
    """Per target its binary mask; per case a label map (label index per voxel) and, with
    option include_images, the image itself. All in the image's geometry."""
    folder = safe_name(case_item.case.study_id)
    for item in case_item.targets:
        name = f"{folder}/{target_file_stem(item)}.nii.gz"
        zf.writestr(name, read_bytes(item.revision.file.name), compress_type=zipfile.ZIP_STORED)
        item.files.append(name)
    labels, _ = label_map(case_item, by="label")
    header_bytes, _, _ = image_header(case_item.case.image)
    name = f"{folder}/labels.nii.gz"
    zf.writestr(
        name,
        masks.encode_nifti(labels, image_header_bytes=header_bytes),
        compress_type=zipfile.ZIP_STORED,
    )
    case_item.files.append(name)
    if options.get("include_images"):
        name = f"{folder}/image.nii.gz"
        zf.writestr(
            name,
            read_bytes(case_item.case.image.file.name),
            compress_type=zipfile.ZIP_STORED,
        )
        case_item.files.append(name)


def npz_arrays(case_item: CaseItem, options: dict) -> dict[str, np.ndarray]:
    """MedSAM2's training format: imgs uint8 (D, H, W) windowed as for inference, gts
    (D, H, W) with one index per target (or per label with npz_labels="label"), spacing
    (x, y, z) mm as SimpleITK orders it, and the index legend."""
    from inference.preprocess import to_uint8

    image = case_item.case.image
    by = options.get("npz_labels", "target")
    gts, legend = label_map(case_item, by=by)
    return {
        "imgs": to_uint8(load_volume(image), image.modality, input_window(case_item.case, options)),
        "gts": gts,
        "spacing": np.asarray(image.spacing, dtype=np.float64),
        "origin": np.asarray(image.origin, dtype=np.float64),
        "direction": np.asarray(image.direction, dtype=np.float64).reshape(3, 3),
        "gts_values": np.asarray([e["value"] for e in legend], dtype=np.int32),
        "target_ids": np.asarray([e["target"] for e in legend], dtype=np.int64),
        "target_labels": np.asarray([e["label"] for e in legend], dtype=np.str_),
    }


def write_npz(zf: zipfile.ZipFile, case_item: CaseItem, options: dict) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **npz_arrays(case_item, options))
    name = f"{safe_name(case_item.case.study_id)}.npz"
    zf.writestr(name, buffer.getvalue(), compress_type=zipfile.ZIP_STORED)
    case_item.files.append(name)
    for item in case_item.targets:
        item.files.append(name)


# ---------------------------------------------------------------- manifest

MANIFEST_COLUMNS = [
    "study_id",
    "case",
    "target",
    "label",
    "label_index",
    "status",
    "split",
    "revision",
    "revision_source",
    "revision_created_at",
    "revision_checksum",
    "voxel_count",
    "volume_ml",
    "long_axis_mm",
    "short_axis_mm",
    "measured_slice",
    "annotator",
    "reviewer",
    "reviewed_at",
    "model_version",
    "model_round",
    "ai_assisted",
    "accepted_unchanged",
    "dice_vs_model",
    "active_seconds",
    "case_first_opened_at",
    "case_submitted_at",
    "image_checksum",
    "image_source",
    "files",
]


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def revision_measures(case_item: CaseItem, item: TargetItem) -> dict:
    """The revision's stored figures (annotations.measure); measured now for a revision stored
    before they were."""
    if item.revision.measures:
        return item.revision.measures
    image = case_item.case.image
    return measure.measure(
        revision_mask(item.revision),
        image.spacing,
        item.target.key_index,
        volume=image.kind != "video",
    )


def target_record(case_item: CaseItem, item: TargetItem) -> dict[str, Any]:
    case, revision, review, outcome = case_item.case, item.revision, item.review, item.outcome
    annotator = None
    if outcome and outcome.annotator:
        annotator = outcome.annotator.username
    elif revision.author:
        annotator = revision.author.username
    else:
        annotator = case_item.assignee
    model_version = item.model_version
    figures = revision_measures(case_item, item)
    return {
        "study_id": case.study_id,
        "case": case.pk,
        "target": item.target.pk,
        "label": item.target.label,
        "label_index": item.label_index,
        "status": item.status,
        "split": item.split,
        "revision": revision.pk,
        "revision_source": revision.source,
        "revision_created_at": _iso(revision.created_at),
        "revision_checksum": revision.checksum,
        "voxel_count": revision.voxel_count,
        "volume_ml": figures.get("volume_ml"),
        "long_axis_mm": figures.get("long_axis_mm"),
        "short_axis_mm": figures.get("short_axis_mm"),
        "measured_slice": figures.get("slice"),
        "annotator": annotator,
        "reviewer": review.reviewer.username if review and review.reviewer else None,
        "reviewed_at": _iso(review.created_at) if review else None,
        "model_version": model_version.name if model_version else None,
        "model_round": model_version.round_number if model_version else None,
        "ai_assisted": item.model_revision is not None,
        "accepted_unchanged": (
            item.model_revision.checksum == revision.checksum if item.model_revision else None
        ),
        "dice_vs_model": outcome.dice if outcome else None,
        "active_seconds": outcome.active_seconds if outcome else None,
        "case_first_opened_at": _iso(case.first_opened_at),
        "case_submitted_at": _iso(case.submitted_at),
        "image_checksum": case.image.checksum,
        "image_source": case.image.source_format,
        "files": " ".join(item.files + case_item.files),
    }


def write_manifest(zf: zipfile.ZipFile, header: dict, case_items: list[CaseItem]) -> None:
    records = [target_record(c, t) for c in case_items for t in c.targets]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    zf.writestr("manifest.csv", text.getvalue())
    body = {
        **header,
        "cases": [
            {
                "study_id": c.case.study_id,
                "case": c.case.pk,
                "status": c.case.status,
                "annotator": c.assignee,
                "image": {
                    "shape_xyz": c.case.image.shape,
                    "spacing_xyz": c.case.image.spacing,
                    "origin_lps": c.case.image.origin,
                    "direction": c.case.image.direction,
                    "modality": c.case.image.modality,
                    "source": c.case.image.source_format,
                    "dicom": c.case.image.dicom,
                },
                "files": c.files,
                "notes": c.notes,
            }
            for c in case_items
        ],
        "targets": records,
    }
    zf.writestr("manifest.json", json.dumps(body, indent=1, default=str))
