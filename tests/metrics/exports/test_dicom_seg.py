"""DICOM SEG exports read back against the source series (also with optional tags missing,
without a frame of reference, and from an enhanced multi-frame source); segment codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom

from annotator.cases import importing
from annotator.cases.imaging import synthetic
from tests import factories
from tests.metrics.conftest import box_mask

from .conftest import accept_targets, export, open_zip

OPTIONAL_TAGS = (
    "SeriesDescription",
    "StudyDescription",
    "Manufacturer",
    "ManufacturerModelName",
    "StudyDate",
    "StudyTime",
    "SeriesDate",
    "SeriesTime",
    "BodyPartExamined",
    "KVP",
    "ConvolutionKernel",
    "PatientPosition",
    "SliceLocation",
    "WindowCenter",
    "WindowWidth",
    "SpecificCharacterSet",
    "ImageType",
    "SeriesNumber",
    "InstanceNumber",
)


def write_series(folder: Path, *, strip=(), orientation=(0, 1, 0, 0, 0, -1)) -> list[Path]:
    """A small CT series (sagittal, so x/y/z differ from the array axes) without patient
    attributes; `strip` removes further tags from every file."""
    values = synthetic.ct_phantom(6, 20, seed=1).astype(np.float64)[:, :, :16]
    paths = synthetic.write_series(
        folder, values, patient={}, orientation=orientation, spacing=(0.9, 0.7, 2.0)
    )
    for path in paths:
        ds = pydicom.dcmread(path)
        for keyword in strip:
            if keyword in ds:
                delattr(ds, keyword)
        ds.save_as(path)
    return paths


def import_case(project, path: Path):
    report = importing.import_paths(project, [path], actor=None)
    assert len(report.cases) == 1, report.as_dict()
    case = report.cases[0]
    case.refresh_from_db()
    return case


def source_slices(paths):
    """(dataset, position along the normal) of each source file, in canonical order."""
    sets = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    iop = np.asarray(sets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return sorted(
        ((ds, float(np.asarray(ds.ImagePositionPatient, dtype=float) @ normal)) for ds in sets),
        key=lambda item: item[1],
    )


def test_dicom_seg_references_source_series_and_geometry(project, people, tmp_path, version):
    paths = write_series(tmp_path / "series", strip=OPTIONAL_TAGS)
    case = import_case(project, tmp_path / "series")
    m1 = box_mask(case, z=(1, 4), y=(2, 9), x=(3, 7))
    m2 = box_mask(case, z=(2, 3), y=(10, 14), x=(5, 12))
    accept_targets(project, people, case, [m1, m2], version=version)
    seg_file = open_zip(export(people, project, "dicom-seg", case=case)).read(
        f"{case.study_id}/seg.dcm"
    )
    seg = hd.seg.segread(io.BytesIO(seg_file))
    ordered = source_slices(paths)
    first = ordered[0][0]
    assert seg.StudyInstanceUID == first.StudyInstanceUID
    assert seg.FrameOfReferenceUID == first.FrameOfReferenceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == first.SeriesInstanceUID
    assert seg.PatientName == "" and seg.Modality == "SEG"
    assert seg.number_of_segments == 2
    description = seg.get_segment_description(1)
    assert description.SegmentLabel.startswith("lesion #")
    assert description.SegmentAlgorithmType == "SEMIAUTOMATIC"
    algorithm = description.SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("MedSAM2", "medsam2-r3")
    # Every SEG frame sits where the source image it references sits.
    shared = seg.SharedFunctionalGroupsSequence[0]
    np.testing.assert_allclose(
        shared.PlaneOrientationSequence[0].ImageOrientationPatient,
        first.ImageOrientationPatient,
        atol=1e-4,
    )
    np.testing.assert_allclose(
        shared.PixelMeasuresSequence[0].PixelSpacing, first.PixelSpacing, atol=1e-4
    )
    by_uid = {ds.SOPInstanceUID: ds for ds, _ in ordered}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        ref = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        np.testing.assert_allclose(
            frame.PlanePositionSequence[0].ImagePositionPatient,
            by_uid[ref].ImagePositionPatient,
            atol=1e-3,
        )
    # Pixels per source image equal the masks on the slice that image holds.
    uids = [ds.SOPInstanceUID for ds, _ in ordered]
    pixels = seg.get_pixels_by_source_instance(uids, combine_segments=False)
    nz = case.image.shape[2]
    assert pixels.shape == (nz, first.Rows, first.Columns, 2)
    expected = np.stack([m1, m2], axis=-1)
    # Canonical slices run along the stored z direction; map it onto the sorted source order.
    z_dir = np.asarray(case.image.direction, dtype=float).reshape(3, 3)[:, 2]
    normal = np.cross(
        np.asarray(first.ImageOrientationPatient[:3], float),
        np.asarray(first.ImageOrientationPatient[3:], float),
    )
    if float(z_dir @ normal) < 0:
        expected = expected[::-1]
    np.testing.assert_array_equal(pixels, expected)


def test_dicom_seg_without_frame_of_reference_and_from_pydicom_reading(project, people, tmp_path):
    write_series(tmp_path / "s", strip=(*OPTIONAL_TAGS, "FrameOfReferenceUID", "SliceThickness"))
    case = import_case(project, tmp_path / "s")
    m = box_mask(case, z=(0, 2), y=(1, 5), x=(1, 5))
    accept_targets(project, people, case, [m])
    data = open_zip(export(people, project, "dicom-seg", case=case)).read(
        f"{case.study_id}/seg.dcm"
    )
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"  # Segmentation Storage
    assert ds.FrameOfReferenceUID  # derived, and said so
    assert "derived" in ds.ContentDescription
    seg = hd.seg.Segmentation.from_dataset(ds)
    assert seg.get_segment_description(1).SegmentAlgorithmType == "MANUAL"
    assert int(ds.NumberOfFrames) == 2  # empty frames omitted: two slices hold the mask


def test_dicom_seg_from_enhanced_multiframe(project, people, tmp_path, version):
    values = synthetic.ct_phantom(5, 16, seed=2).astype(np.float64)
    order = [3, 0, 4, 1, 2]  # frames stored out of slice order
    path = synthetic.write_enhanced(tmp_path / "enh.dcm", values, frame_order=order)
    case = import_case(project, path)
    assert case.image.dicom["frame_numbers"] is not None
    m = box_mask(case, z=(1, 3), y=(2, 8), x=(2, 9))
    accept_targets(project, people, case, [m], version=version)
    data = open_zip(export(people, project, "dicom-seg", case=case)).read(
        f"{case.study_id}/seg.dcm"
    )
    seg = hd.seg.segread(io.BytesIO(data))
    source = pydicom.dcmread(path, stop_before_pixels=True)
    frames = list(range(1, len(order) + 1))
    pixels = seg.get_pixels_by_source_frame(
        source.SOPInstanceUID, source_frame_numbers=frames, combine_segments=False
    )
    # Source frame f holds canonical slice order[f - 1] (slices ascend along z here).
    expected = m[order]
    np.testing.assert_array_equal(pixels[..., 0], expected)


def test_dicom_seg_is_refused_for_cases_not_from_dicom(project, people, client_for):
    case = factories.case(project)
    accept_targets(project, people, case, [box_mask(case)])
    response = client_for(people["manager"]).post(
        "/api/v1/exports/",
        {"project": project.pk, "scope": "case", "case": case.pk, "format": "dicom-seg"},
    )
    assert response.status_code == 400
    assert "not DICOM" in response.json()["detail"]
    assert response.json()["code"] == "dicom_seg_unavailable"


def test_project_dicom_seg_skips_non_dicom_cases_with_a_note(project, people, tmp_path):
    write_series(tmp_path / "s")
    dicom_case = import_case(project, tmp_path / "s")
    accept_targets(project, people, dicom_case, [box_mask(dicom_case, z=(1, 2))])
    nifti_case = factories.case(project)
    accept_targets(project, people, nifti_case, [box_mask(nifti_case)])
    done = export(people, project, "dicom-seg", scope="project")
    names = open_zip(done).namelist()
    assert f"{dicom_case.study_id}/seg.dcm" in names
    assert not any(n.startswith(nifti_case.study_id) for n in names)
    assert len(done.notes) == 1 and nifti_case.study_id in done.notes[0]
    manifest = json.loads(open_zip(done).read("manifest.json"))
    notes = {c["study_id"]: c["notes"] for c in manifest["cases"]}
    assert notes[nifti_case.study_id] and not notes[dicom_case.study_id]


def test_segment_codes_from_label_names():
    from pydicom.sr.codedict import codes

    from annotator.metrics.exports.dicom_seg import segment_codes

    assert segment_codes("cyst") == (codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Cyst)
    assert segment_codes("LV") == (codes.SCT.AnatomicalStructure, codes.SCT.LeftVentricle)
    assert segment_codes("left ventricle")[1] == codes.SCT.LeftVentricle
    assert segment_codes("weird blob") == (
        codes.SCT.MorphologicallyAbnormalStructure,
        codes.SCT.Lesion,
    )
