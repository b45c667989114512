"""The import service, the import_cases command and the upload endpoint, with real files."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from pydicom.data import get_testdata_file

from annotator.annotations.models import Target
from annotator.audit.models import AuditEvent
from annotator.cases.imaging import read_canonical_nifti, synthetic
from annotator.cases.models import Case, CaseStatus, Image
from tests import factories

PATIENT = {"PatientName": "DOE^JANE", "PatientID": "MRN-99812", "PatientBirthDate": "19610203"}


def series(folder: Path, n=12, size=32, seed=0, **kw) -> Path:
    values = synthetic.ct_phantom(n, size, seed=seed).astype(np.float64)
    synthetic.write_series(folder, values, patient=PATIENT, seed=seed, **kw)
    return folder


def stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_cli_imports_a_series_with_targets_and_deidentifies(
    project, people, tmp_path, capsys, django_capture_on_commit_callbacks
):
    folder = series(tmp_path / "case07", n=12)
    csv = tmp_path / "targets.csv"
    csv.write_text("case,label,key_index,x0,y0,x1,y1\ncase07,lesion,6,4,5,20,22\n")
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "import_cases", str(folder), project="liver", targets=str(csv), no_progress=True
        )
    out = capsys.readouterr().out
    case = Case.objects.get()
    assert case.study_id in out and "1 case(s), 1 target(s)" in out
    assert case.status == CaseStatus.READY  # no production model: ready without AI
    image = case.image
    assert image.shape == [32, 32, 12] and image.modality == "CT" and image.kind == "volume"
    assert image.spacing == pytest.approx([0.7, 0.7, 1.25])
    assert image.dicom["sop_instance_uids"] and len(image.dicom["sop_instance_uids"]) == 12
    target = Target.objects.get()
    assert (target.label, target.key_index, target.box) == ("lesion", 6, [4.0, 5.0, 20.0, 22.0])
    # Nothing identifying anywhere: database rows, audit events, stored files.
    dump = " ".join(
        str(v) for m in (Case, Image, AuditEvent) for v in m.objects.values()
    ) + "".join(p.read_bytes().decode("latin-1") for p in stored_files())
    import gzip

    dump += gzip.decompress(Path(image.file.path).read_bytes()).decode("latin-1")
    for value in ("DOE", "JANE", "MRN-99812", "19610203", "case07"):
        assert value not in dump
    # The stored volume is the series, in its geometry.
    canonical = read_canonical_nifti(Path(image.file.path))
    assert canonical.array.shape == (12, 32, 32)


def test_reimport_is_skipped_not_duplicated(project, tmp_path, capsys):
    folder = series(tmp_path / "s1")
    call_command("import_cases", str(folder), project="liver", no_progress=True)
    call_command("import_cases", str(folder), project="liver", no_progress=True)
    assert Case.objects.count() == 1
    assert "already in the project" in capsys.readouterr().out


def test_several_series_in_one_zip_become_several_cases(project, people, tmp_path, client_for):
    a = series(tmp_path / "a", seed=1, series_number=3)
    b = series(tmp_path / "b", seed=2, series_number=4)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for folder in (a, b):
            for f in folder.iterdir():
                zf.write(f, f"{folder.name}/{f.name}")
    buf.name = "study.zip"
    buf.seek(0)
    response = client_for(people["manager"]).post(
        f"/api/v1/projects/{project.pk}/cases/", {"files": [buf]}, format="multipart"
    )
    assert response.status_code == 201, response.data
    assert len(response.data["created"]) == 2 and Case.objects.count() == 2


def test_upload_of_real_nifti_and_multiframe_files(people, client_for, tmp_path):
    import gzip

    echo = factories.project("echo", kind="video", modality="US", manager=[people["manager"]])
    cine = Path(get_testdata_file("color3d_jpeg_baseline.dcm"))
    with cine.open("rb") as fh:
        response = client_for(people["manager"]).post(
            f"/api/v1/projects/{echo.pk}/cases/", {"files": [fh]}, format="multipart"
        )
    assert response.status_code == 201, response.data
    image = Case.objects.get(project=echo).image
    assert image.kind == "video" and image.frame_count == 120 and image.frame_rate
    # A NIfTI volume into a volume project.
    vol = factories.project("vol", manager=[people["manager"]])
    data = factories.nifti_bytes(np.arange(6 * 8 * 10, dtype=np.int16).reshape(6, 8, 10))
    f = io.BytesIO(data)
    f.name = "scan.nii.gz"
    response = client_for(people["manager"]).post(
        f"/api/v1/projects/{vol.pk}/cases/", {"files": [f]}, format="multipart"
    )
    assert response.status_code == 201, response.data
    assert Case.objects.get(project=vol).image.shape == [10, 8, 6]
    assert gzip.decompress(data)  # sanity: the fixture is real gzip


@pytest.mark.parametrize(
    "make",
    ["corrupt", "traversal", "not-an-image", "missing-slice", "wrong-kind", "bad-csv-row"],
)
def test_bad_input_is_a_clear_400_and_leaves_nothing(project, people, client_for, tmp_path, make):
    files, extra = [], {}
    if make == "corrupt":
        f = io.BytesIO(b"DICM" + b"\x00" * 50)
        f.name = "x.dcm"
        files = [f]
    elif make == "traversal":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("../../evil.dcm", b"x")
        buf.seek(0)
        buf.name = "evil.zip"
        files = [buf]
    elif make == "not-an-image":
        f = io.BytesIO(b"hello, I am a spreadsheet")
        f.name = "notes.xlsx"
        files = [f]
    elif make == "missing-slice":
        folder = series(tmp_path / "gap", n=10)
        paths = sorted(
            folder.iterdir(),
            key=lambda p: float(
                __import__("pydicom").dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]
            ),
        )
        paths[5].unlink()
        files = [p.open("rb") for p in folder.iterdir()]
    elif make == "wrong-kind":
        files = [io.BytesIO(Path(get_testdata_file("color3d_jpeg_baseline.dcm")).read_bytes())]
        files[0].name = "cine.dcm"
    elif make == "bad-csv-row":
        folder = series(tmp_path / "ok", n=8)
        files = [p.open("rb") for p in folder.iterdir()]
        csv = io.BytesIO(b"case,label,key_index,x0,y0,x1,y1\nok,lesion,99,1,1,5,5\n")
        csv.name = "t.csv"
        extra = {"targets": csv}
    response = client_for(people["manager"]).post(
        f"/api/v1/projects/{project.pk}/cases/", {"files": files, **extra}, format="multipart"
    )
    assert response.status_code == 400, response.data
    assert response.data["detail"]
    assert Case.objects.count() == 0 and Image.objects.count() == 0
    assert stored_files() == []
    leftovers = list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir())
    assert leftovers == []


def test_cli_errors_exit_nonzero_with_a_message(project, tmp_path):
    with pytest.raises(CommandError, match="no project"):
        call_command("import_cases", str(tmp_path), project="nope", no_progress=True)
    with pytest.raises(CommandError, match="not found"):
        call_command("import_cases", str(tmp_path / "missing"), project="liver", no_progress=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="nothing was kept"):
        call_command("import_cases", str(tmp_path / "empty"), project="liver", no_progress=True)
    assert Case.objects.count() == 0


def test_only_managers_upload(project, people, client_for, tmp_path):
    f = io.BytesIO(factories.nifti_bytes(np.zeros((4, 4, 4), np.int16)))
    f.name = "a.nii.gz"
    for role in ("annotator", "reviewer"):
        response = client_for(people[role]).post(
            f"/api/v1/projects/{project.pk}/cases/", {"files": [f]}, format="multipart"
        )
        assert response.status_code == 403
    assert (
        client_for(people["outsider"])
        .post(f"/api/v1/projects/{project.pk}/cases/", {"files": [f]}, format="multipart")
        .status_code
        == 404
    )


def test_upload_size_limit_is_413(project, people, client_for, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    f = io.BytesIO(b"x" * 1000)
    f.name = "big.nii"
    response = client_for(people["manager"]).post(
        f"/api/v1/projects/{project.pk}/cases/", {"files": [f]}, format="multipart"
    )
    assert response.status_code == 413


def test_import_records_audit_and_progress(project, tmp_path):
    calls = []
    from annotator.cases import importing

    report = importing.import_paths(
        project, [series(tmp_path / "p")], actor=None, progress=lambda *a: calls.append(a)
    )
    assert len(report.cases) == 1 and calls and calls[-1][2] == "done"
    assert AuditEvent.objects.filter(action="import").exists()


def test_imported_targets_are_presegmented_when_a_model_is_in_production(
    project, tmp_path, django_capture_on_commit_callbacks
):
    model = factories.tiny_model_version(tmp_path)
    folder = series(tmp_path / "auto", n=8)
    csv = tmp_path / "t.csv"
    csv.write_text("case,label,key_index,x0,y0,x1,y1\nauto,lesion,4,6,6,20,20\n")
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "import_cases", str(folder), project="liver", targets=str(csv), no_progress=True
        )
    case = Case.objects.get()
    assert case.status == CaseStatus.READY
    target = case.targets.get()
    assert target.head is not None and target.head.model_version == model
    assert case.presegment_jobs.get().status == "done"


# ----------------------------------------------------------------- issue #17 item 10: bookkeeping


def upload(client, project, *files):
    return client.post(
        f"/api/v1/projects/{project.pk}/cases/", {"files": list(files)}, format="multipart"
    )


def zipped(folder: Path) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"{folder.name}/{f.name}")
    buf.name = f"{folder.name}.zip"
    buf.seek(0)
    return buf


def test_reading_notes_are_notes_not_skipped_inputs(project, tmp_path, capsys):
    from annotator.cases import importing

    array = np.full((4, 8, 8), 100.0, np.float32)
    array[1, 2, 3] = np.nan
    path = tmp_path / "nan.nii.gz"
    path.write_bytes(factories.nifti_bytes(array))
    report = importing.import_paths(project, [path], actor=None)
    assert len(report.cases) == 1 and report.skipped == []
    assert any("NaN" in note for note in report.notes)
    assert report.as_dict()["notes"] == report.notes
    path2 = tmp_path / "nan2.nii.gz"
    array[2, 2, 2] = np.nan
    path2.write_bytes(factories.nifti_bytes(array))
    call_command("import_cases", str(path2), project="liver", no_progress=True)
    out = capsys.readouterr().out
    assert "note: " in out and "NaN" in out
    assert not any(line.startswith("skipped") for line in out.splitlines())


def test_a_reimport_that_creates_nothing_answers_200(project, people, client_for, tmp_path):
    client = client_for(people["manager"])
    folder = series(tmp_path / "s1")
    first = upload(client, project, zipped(folder))
    assert first.status_code == 201 and len(first.data["created"]) == 1
    again = upload(client, project, zipped(folder))
    assert again.status_code == 200, again.data
    assert again.data["created"] == [] and "already in the project" in again.data["skipped"][0]
    assert Case.objects.count() == 1


def test_a_series_of_another_modality_is_refused_and_audited(project, people, client_for, tmp_path):
    """A CT series went into an MR project: the project's modality is a rule now."""
    mr_project = factories.project("liver-mr", modality="MR", manager=[people["manager"]])
    client = client_for(people["manager"])
    ct = series(tmp_path / "ct")
    response = upload(client, mr_project, zipped(ct))
    assert response.status_code == 400, response.data
    assert response.data["code"] == "wrong_modality"
    assert "CT series" in response.data["detail"] and "takes MR only" in response.data["detail"]
    assert not Case.objects.filter(project=mr_project).exists() and stored_files() == []
    event = AuditEvent.objects.get(action="import.refused", project_id=mr_project.pk)
    assert event.actor == people["manager"] and event.data["code"] == "wrong_modality"
    assert "takes MR only" in event.data["reason"]
    # The same project takes an MR series, and the CT project a CT series.
    mr = series(tmp_path / "mr", seed=3, modality="MR")
    assert upload(client, mr_project, zipped(mr)).status_code == 201
    assert Image.objects.get(case__project=mr_project).modality == "MR"
    assert upload(client, project, zipped(ct)).status_code == 201


def test_nifti_takes_the_project_modality(people, client_for):
    mr_project = factories.project("brain-mr", modality="MR", manager=[people["manager"]])
    f = io.BytesIO(factories.nifti_bytes(np.full((4, 8, 8), 300, np.int16)))
    f.name = "t1.nii.gz"
    response = upload(client_for(people["manager"]), mr_project, f)
    assert response.status_code == 201, response.data
    image = Image.objects.get(case__project=mr_project)
    assert image.modality == "MR" and image.description.startswith("MR")


def test_refused_imports_leave_an_audit_entry(project, people, client_for, tmp_path):
    broken = io.BytesIO(b"not an image at all" * 10)
    broken.name = "broken.nii.gz"
    response = upload(client_for(people["manager"]), project, broken)
    assert response.status_code == 400
    f = io.BytesIO(factories.nifti_bytes(np.zeros((4, 4, 4), np.int16)))
    f.name = "a.nii.gz"
    assert upload(client_for(people["annotator"]), project, f).status_code == 403
    refused = AuditEvent.objects.filter(action="import.refused", project_id=project.pk)
    by_actor = {e.actor.username: e.data for e in refused}
    assert set(by_actor) == {"manager", "annotator"} and refused.count() == 2
    assert by_actor["annotator"]["code"] == "forbidden" and by_actor["annotator"]["status"] == 403
    assert by_actor["manager"]["status"] == 400 and by_actor["manager"]["reason"]
    with pytest.raises(CommandError):
        call_command("import_cases", str(tmp_path), project="liver", no_progress=True)
    assert AuditEvent.objects.filter(action="import.refused", actor=None).count() == 1
