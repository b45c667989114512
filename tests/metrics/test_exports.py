"""Exports read back: NIfTI in the image geometry, DICOM SEG against the source series (also
with optional tags missing, and from an enhanced multi-frame source), npz, manifest; the job
API, background path and permissions."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage

from annotator.audit.models import AuditEvent
from annotator.cases import importing
from annotator.cases.imaging import synthetic
from annotator.metrics.exports import service
from annotator.metrics.models import Export
from inference.preprocess import to_uint8
from tests import factories

from .conftest import box_mask, human_save, model_save, model_version, review, start, submit

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


def accept_targets(project, people, case, masks, *, version=None, labels=None):
    """Targets with these masks, pre-segmented by `version` (if given), accepted."""
    case.assignments.create(annotator=people["annotator"], active=True)
    targets = []
    for i, mask in enumerate(masks):
        t = factories.target(case, label=(labels or ["lesion", "cyst"])[i % 2])
        if version is not None:
            model_save(t, mask, version)
        else:
            human_save(t, people["annotator"], mask, active_seconds=10)
        targets.append(t)
    start(case, people["annotator"])
    submit(case, people["annotator"])
    for t in targets:
        review(t, people["reviewer"], "accept")
    return targets


def export(people, project, fmt, scope="case", **kw):
    result = service.request_export(
        actor=people["manager"], project=project, scope=scope, fmt=fmt, **kw
    )
    assert result.status == "done", result.message
    return result


def open_zip(export_obj) -> zipfile.ZipFile:
    with default_storage.open(export_obj.file.name, "rb") as fh:
        return zipfile.ZipFile(io.BytesIO(fh.read()))


def source_slices(paths):
    """(dataset, position along the normal) of each source file, in canonical order."""
    sets = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    iop = np.asarray(sets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return sorted(
        ((ds, float(np.asarray(ds.ImagePositionPatient, dtype=float) @ normal)) for ds in sets),
        key=lambda item: item[1],
    )


@pytest.fixture
def version(project):
    return model_version(project, round_number=3, name="medsam2-r3")


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


def test_nifti_export_in_image_geometry_with_manifest(project, people, version):
    case = factories.case(project)
    m1, m2 = box_mask(case), box_mask(case, z=(5, 7), x=(20, 30))
    t1, t2 = accept_targets(project, people, case, [m1, m2], version=version)
    zf = open_zip(export(people, project, "nifti", case=case, options={"include_images": True}))
    image = nib.Nifti1Image.from_bytes(gzip.decompress(zf.read(f"{case.study_id}/image.nii.gz")))
    for t, mask in ((t1, m1), (t2, m2)):
        name = f"{case.study_id}/target-{t.pk}-{t.label}.nii.gz"
        img = nib.Nifti1Image.from_bytes(gzip.decompress(zf.read(name)))
        assert img.shape == image.shape == tuple(case.image.shape)
        np.testing.assert_allclose(img.affine, image.affine)
        np.testing.assert_array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), mask)
    labels = nib.Nifti1Image.from_bytes(gzip.decompress(zf.read(f"{case.study_id}/labels.nii.gz")))
    np.testing.assert_allclose(labels.affine, image.affine)
    data = np.asarray(labels.dataobj).transpose(2, 1, 0)
    assert set(np.unique(data)) == {0, 1, 2}  # lesion = 1, cyst = 2 (project label order)
    assert (data[m2 == 1] == 2).all() and (data[(m1 == 1) & (m2 == 0)] == 1).all()
    rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    assert [int(r["target"]) for r in rows] == [t1.pk, t2.pk]
    row = rows[0]
    assert row["annotator"] == "annotator" and row["reviewer"] == "reviewer"
    assert row["model_version"] == "medsam2-r3" and row["model_round"] == "3"
    assert row["status"] == "accepted" and row["accepted_unchanged"] == "True"
    assert row["reviewed_at"] and row["revision_created_at"] and row["case_submitted_at"]
    assert row["image_checksum"] == case.image.checksum
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["export"]["requested_by"] == "manager"
    assert manifest["cases"][0]["image"]["shape_xyz"] == case.image.shape


def test_npz_export_medsam2_format(project, people):
    array = np.random.default_rng(3).integers(-300, 300, (8, 24, 32), dtype=np.int16)
    case = factories.case(project, array=array)
    m1, m2 = box_mask(case), box_mask(case, z=(5, 7), x=(20, 30))
    t1, t2 = accept_targets(project, people, case, [m1, m2])
    zf = open_zip(export(people, project, "npz", case=case))
    npz = np.load(io.BytesIO(zf.read(f"{case.study_id}.npz")))
    assert npz["imgs"].dtype == np.uint8 and npz["imgs"].shape == (8, 24, 32)
    assert npz["gts"].dtype == np.uint8 and npz["gts"].shape == (8, 24, 32)
    np.testing.assert_array_equal(npz["imgs"], to_uint8(array, "CT", None))
    assert (npz["gts"][m1 == 1] == 1).all() and (npz["gts"][m2 == 1] == 2).all()
    assert set(np.unique(npz["gts"])) == {0, 1, 2}
    np.testing.assert_allclose(npz["spacing"], [0.8, 0.8, 2.5])
    assert list(npz["target_ids"]) == [t1.pk, t2.pk]
    assert list(npz["target_labels"]) == ["lesion", "cyst"]
    by_label = open_zip(
        export(people, project, "npz", case=case, options={"npz_labels": "label", "window": "lung"})
    )
    npz = np.load(io.BytesIO(by_label.read(f"{case.study_id}.npz")))
    np.testing.assert_array_equal(npz["imgs"], to_uint8(array, "CT", "lung"))
    assert set(np.unique(npz["gts"])) == {0, 1, 2}


def test_only_accepted_masks_leave_unless_asked(project, people):
    case = factories.case(project, assignee=people["annotator"])
    t = factories.target(case)
    human_save(t, people["annotator"], box_mask(case), active_seconds=1)
    done = export(people, project, "manifest", scope="project")
    header, *rows = open_zip(done).read("manifest.csv").decode().splitlines()
    assert done.total == 0 and rows == [] and header.startswith("study_id,case,target")
    done = export(people, project, "manifest", options={"include_unaccepted": True}, case=case)
    rows = list(csv.DictReader(io.StringIO(open_zip(done).read("manifest.csv").decode())))
    assert [(int(r["target"]), r["status"]) for r in rows] == [(t.pk, "draft")]


def test_round_snapshot_holds_the_rounds_targets(
    project, people, django_capture_on_commit_callbacks
):
    v1, v2 = model_version(project, round_number=1), model_version(project, round_number=2)
    with django_capture_on_commit_callbacks(execute=True):  # outcomes via the review hook
        a, b = factories.case(project), factories.case(project)
        (ta,) = accept_targets(project, people, a, [box_mask(a)], version=v1)
        (tb,) = accept_targets(project, people, b, [box_mask(b)], version=v2)
    done = export(people, project, "manifest", scope="round", model_version=v1)
    rows = list(csv.DictReader(io.StringIO(open_zip(done).read("manifest.csv").decode())))
    assert [int(r["target"]) for r in rows] == [ta.pk]
    assert rows[0]["model_version"] == "round-1"


def test_export_api_background_progress_download_and_audit(
    project, people, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    case = factories.case(project)
    accept_targets(project, people, case, [box_mask(case)])
    monkeypatch.setattr(service, "INLINE_MAX_VOXELS", 0)  # force the Celery path (eager here)
    client = client_for(people["manager"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/exports/", {"project": project.pk, "scope": "project", "format": "nifti"}
        )
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued"
    detail = client.get(f"/api/v1/exports/{response.json()['id']}/").json()
    assert detail["status"] == "done" and detail["progress"] == 1.0
    assert detail["done"] == detail["total"] == 1 and detail["size_bytes"] > 0
    download = client.get(detail["download"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()
    assert "manifest.csv" in names and f"{case.study_id}/labels.nii.gz" in names
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"export.request", "export.done", "export.download"} <= actions
    listed = client.get("/api/v1/exports/", {"project": project.pk}).json()
    assert [e["id"] for e in listed["results"]] == [detail["id"]]


def test_small_export_is_done_inline(project, people, client_for):
    case = factories.case(project)
    accept_targets(project, people, case, [box_mask(case)])
    response = client_for(people["manager"]).post(
        "/api/v1/exports/",
        {"project": project.pk, "scope": "case", "case": case.pk, "format": "npz"},
    )
    assert response.status_code == 201 and response.json()["status"] == "done"
    assert response.json()["download"].endswith(f"/api/v1/exports/{response.json()['id']}/download")


def test_export_permissions_and_bad_requests(project, other_project, people, client_for):
    case = factories.case(project)
    body = {"project": project.pk, "scope": "case", "case": case.pk, "format": "manifest"}
    manager = client_for(people["manager"])
    created = manager.post("/api/v1/exports/", body).json()
    for role in ("annotator", "reviewer"):
        client = client_for(people[role])
        assert client.post("/api/v1/exports/", body).status_code == 403
        assert client.get(f"/api/v1/exports/{created['id']}/").status_code == 403
        assert client.get(f"/api/v1/exports/{created['id']}/download").status_code == 403
        assert client.get("/api/v1/exports/").json()["count"] == 0
    outsider = client_for(people["outsider"])
    assert outsider.post("/api/v1/exports/", body).status_code == 404
    assert outsider.get(f"/api/v1/exports/{created['id']}/").status_code == 404
    assert client_for(people["admin"]).get(f"/api/v1/exports/{created['id']}/").status_code == 200
    assert client_for().get("/api/v1/exports/").status_code == 401
    bad = [
        ({**body, "case": None}, "needs a case"),
        ({**body, "scope": "project"}, "only a case export"),
        ({**body, "case": 999999}, "no case"),
        ({**body, "scope": "round", "case": None}, "model_version"),
        ({**body, "options": {"colour": 1}}, "unknown export options"),
        ({**body, "options": {"window": [40, 0]}}, "width"),
        ({**body, "options": {"window": "sunset"}}, "unknown window"),
        ({**body, "format": "png"}, "format"),
    ]
    for payload, message in bad:
        response = manager.post("/api/v1/exports/", payload)
        assert response.status_code == 400, (payload, response.json())
        assert message in json.dumps(response.json()), (message, response.json())
    other_case = factories.case(other_project)
    foreign = manager.post("/api/v1/exports/", {**body, "case": other_case.pk})
    assert foreign.status_code == 400


def test_failed_export_reports_why_and_cannot_be_downloaded(project, people, client_for):
    case = factories.case(project)
    (t,) = accept_targets(project, people, case, [box_mask(case)])
    default_storage.delete(type(t).objects.get(pk=t.pk).head.file.name)  # a lost mask file
    result = service.request_export(
        actor=people["manager"], project=project, scope="case", fmt="nifti", case=case
    )
    assert result.status == "failed" and "FileNotFoundError" in result.message
    response = client_for(people["manager"]).get(f"/api/v1/exports/{result.pk}/download")
    assert response.status_code == 409 and response.json()["code"] == "export_not_ready"
    assert Export.objects.get(pk=result.pk).file.name in ("", None)


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
