"""DICOM SEG (highdicom) of a case's masks, referencing the source series it was imported from.

The app keeps no source DICOM files, only what import stored on the Image row: the study,
series and frame-of-reference UIDs, the SOP class and instance UIDs in slice order (and for a
multi-frame source the frame number of each slice) and the grid geometry. From these we build
header-only stand-ins of the source images (no pixel data, no patient attributes: the app
stores none) that carry exactly what highdicom needs to reference the source and place each
frame: positions, orientation, spacing. Patient and study attributes of the SEG are therefore
empty (type 2); the study UID ties it to the source study.

Missing optional source attributes do not matter (they are not used). A missing frame of
reference UID is replaced by one derived from the series UID (stated in the SEG's
ContentDescription). Cases not imported from DICOM, and cine clips (highdicom needs a frame of
reference and plane positions for multi-frame sources) are refused with a clear reason.
"""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from annotator.cases.models import Image

from .selection import CaseItem

MANUFACTURER = "MedSAM2 annotator"
MODEL_NAME = "medsam2-annotator"
SOFTWARE_VERSION = "0.1.0"
# Fallback SOP classes when the import did not record one.
_SOP_CLASS = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
}
_MULTIFRAME_CLASS = {
    "CT": "1.2.840.10008.5.1.4.1.1.2.1",
    "MR": "1.2.840.10008.5.1.4.1.1.4.1",
    "PT": "1.2.840.10008.5.1.4.1.1.130",
}
_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


class SegRefused(Exception):
    """This case cannot be exported as DICOM SEG; the message says why and what to use."""


def refusal(image: Image) -> str | None:
    """Why a case's image cannot become a DICOM SEG, or None if it can."""
    ref = image.dicom or {}
    if not image.source_format.startswith("dicom") or not ref:
        return (
            f"it was imported from {image.source_format}, not DICOM, so there is no source "
            "series to reference; export NIfTI or npz instead"
        )
    if image.kind != "volume":
        return "it is a cine clip; DICOM SEG export covers volumes, use NIfTI or npz for clips"
    uids = ref.get("sop_instance_uids") or []
    if not (ref.get("study_uid") and ref.get("series_uid")) or not uids or not all(uids):
        return "its source study/series/instance UIDs were not recorded at import"
    nz = image.shape[2]
    frames = ref.get("frame_numbers")
    if frames is None and len(uids) != nz:
        return f"the import recorded {len(uids)} source instances for {nz} slices"
    if frames is not None and (len(uids) != 1 or len(frames) != nz):
        return "the import's multi-frame reference does not match the image"
    return None


def _geometry(image: Image):
    direction = np.asarray(image.direction, dtype=np.float64).reshape(3, 3)
    x_dir, y_dir, z_dir = direction[:, 0], direction[:, 1], direction[:, 2]
    sx, sy, sz = (float(s) for s in image.spacing)
    origin = np.asarray(image.origin, dtype=np.float64)
    positions = [origin + k * sz * z_dir for k in range(image.shape[2])]
    orientation = [*(float(v) for v in x_dir), *(float(v) for v in y_dir)]
    return orientation, (sy, sx), sz, positions


def _frame_of_reference(ref: dict) -> tuple[str, bool]:
    if ref.get("frame_of_reference_uid"):
        return ref["frame_of_reference_uid"], False
    return generate_uid(entropy_srcs=["frame-of-reference", ref["series_uid"]]), True


def _base(ref: dict, image: Image, sop_class: str, sop_uid: str, frame_uid: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = ref["study_uid"]
    ds.SeriesInstanceUID = ref["series_uid"]
    ds.FrameOfReferenceUID = frame_uid
    ds.Modality = ref.get("modality") or image.modality
    ds.Rows, ds.Columns = int(image.shape[1]), int(image.shape[0])
    for keyword in _PATIENT_STUDY:
        setattr(ds, keyword, None)
    return ds


def source_images(image: Image) -> tuple[list[Dataset], list[int], bool]:
    """Header-only stand-ins of the source images, and for each one (single-frame series) or
    each source frame (multi-frame) the canonical slice index it holds."""
    ref = image.dicom
    orientation, pixel_spacing, thickness, positions = _geometry(image)
    frame_uid, derived = _frame_of_reference(ref)
    modality = ref.get("modality") or image.modality
    frames = ref.get("frame_numbers")
    if frames is None:
        sop_class = ref.get("sop_class_uid") or _SOP_CLASS.get(modality, _SOP_CLASS["CT"])
        out = []
        for k, sop_uid in enumerate(ref["sop_instance_uids"]):
            ds = _base(ref, image, sop_class, sop_uid, frame_uid)
            ds.PixelSpacing = list(pixel_spacing)
            ds.ImageOrientationPatient = orientation
            ds.ImagePositionPatient = [float(v) for v in positions[k]]
            ds.SliceThickness = thickness
            out.append(ds)
        return out, list(range(len(out))), derived
    # One multi-frame source: canonical slice k is its frame frames[k] (1-based).
    sop_class = ref.get("sop_class_uid") or _MULTIFRAME_CLASS.get(modality, _MULTIFRAME_CLASS["CT"])
    ds = _base(ref, image, sop_class, ref["sop_instance_uids"][0], frame_uid)
    n_frames = max(frames)
    ds.NumberOfFrames = n_frames
    shared = Dataset()
    plane = Dataset()
    plane.ImageOrientationPatient = orientation
    measures = Dataset()
    measures.PixelSpacing = list(pixel_spacing)
    measures.SliceThickness = thickness
    shared.PlaneOrientationSequence = [plane]
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    slice_of_frame = {f: k for k, f in enumerate(frames)}
    if len(slice_of_frame) != n_frames:
        raise SegRefused("the source frames of this multi-frame image are not all in the volume")
    per_frame = []
    for f in range(1, n_frames + 1):
        item, position = Dataset(), Dataset()
        position.ImagePositionPatient = [float(v) for v in positions[slice_of_frame[f]]]
        item.PlanePositionSequence = [position]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    return [ds], [slice_of_frame[f] for f in range(1, n_frames + 1)], derived


# Label names (CamelCased) with a SNOMED code: findings, and anatomy for whole-organ labels.
_FINDINGS = {"Lesion", "Cyst", "Nodule", "Mass", "Neoplasm", "Tumor", "Metastasis"}
_ANATOMY = {"Liver", "Kidney", "Spleen", "Pancreas", "Lung", "Heart", "LeftVentricle"}
_ALIASES = {"Lv": "LeftVentricle", "Tumour": "Tumor"}


def segment_codes(label: str):
    """(category, property type) for a label: a SNOMED finding or organ when the name is one,
    else a generic lesion."""
    name = "".join(part.capitalize() for part in label.replace("-", " ").replace("_", " ").split())
    name = _ALIASES.get(name, name)
    if name in _FINDINGS:
        return codes.SCT.MorphologicallyAbnormalStructure, getattr(codes.SCT, name)
    if name in _ANATOMY:
        return codes.SCT.AnatomicalStructure, getattr(codes.SCT, name)
    return codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Lesion


def segment_descriptions(case_item: CaseItem) -> list[hd.seg.SegmentDescription]:
    out = []
    for number, item in enumerate(case_item.targets, start=1):
        version = item.model_version
        kwargs = {}
        if item.model_revision is not None:
            kwargs["algorithm_identification"] = hd.AlgorithmIdentificationSequence(
                name="MedSAM2",
                version=version.name[:64],
                family=codes.cid7162.ArtificialIntelligence,
            )
            algorithm_type = hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC
        else:
            algorithm_type = hd.seg.SegmentAlgorithmTypeValues.MANUAL
        category, property_type = segment_codes(item.target.label)
        out.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=f"{item.target.label} #{item.target.pk}"[:64],
                segmented_property_category=category,
                segmented_property_type=property_type,
                algorithm_type=algorithm_type,
                tracking_uid=generate_uid(entropy_srcs=["target", str(item.target.pk)]),
                tracking_id=f"target {item.target.pk}",
                **kwargs,
            )
        )
    return out


def build_segmentation(case_item: CaseItem, masks_zyx: list[np.ndarray]) -> hd.seg.Segmentation:
    image = case_item.case.image
    reason = refusal(image)
    if reason:
        raise SegRefused(f"case {case_item.case.study_id}: {reason}")
    sources, slice_index, derived = source_images(image)
    stacked = np.stack(masks_zyx, axis=-1).astype(np.uint8)  # (z, y, x, segments)
    pixels = stacked[slice_index]  # one frame per source image/frame, in source order
    description = "MedSAM2 annotator labels"
    if derived:
        description += "; frame of reference UID derived (absent in the source)"
    return hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segment_descriptions(case_item),
        series_instance_uid=generate_uid(),
        series_number=900,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=SOFTWARE_VERSION,
        device_serial_number="0",
        content_description=description[:64],
        series_description="MedSAM2 annotator segmentation",
        omit_empty_frames=True,
    )


def seg_bytes(case_item: CaseItem, masks_zyx: list[np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    build_segmentation(case_item, masks_zyx).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
