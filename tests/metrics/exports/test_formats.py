"""NIfTI (in the image geometry), npz (MedSAM2's format) and manifest exports read back; what
leaves: accepted masks only unless asked, a round's targets for a round snapshot."""

from __future__ import annotations

import csv
import gzip
import io
import json

import nibabel as nib
import numpy as np

from inference.preprocess import to_uint8
from tests import factories
from tests.metrics.conftest import box_mask, human_save, model_version

from .conftest import accept_targets, export, open_zip


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
