"""Video, MetaImage and NRRD files through the API upload and the import_cases command: clips
in a video project with the project's modality, a CAMUS-style 3-D sequence as a clip, and bad
files refused with a clear 400 and nothing kept."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from django.core.management import CommandError, call_command

from annotator.audit.models import AuditEvent
from annotator.cases.imaging import read_canonical_nifti
from annotator.cases.models import Case
from tests import factories
from tests.videos import echo_frames, sitk_volume, write_video


@pytest.fixture
def echo(people):
    return factories.project("echo", kind="video", modality="US", manager=[people["manager"]])


def _post(client, project, *files: tuple[str, bytes]):
    uploads = []
    for name, data in files:
        f = io.BytesIO(data)
        f.name = name
        uploads.append(f)
    return client.post(
        f"/api/v1/projects/{project.pk}/cases/", {"files": uploads}, format="multipart"
    )


def _stored(case: Case):
    with case.image.file.open("rb") as fh, open_temp(fh.read()) as path:
        return read_canonical_nifti(path)


class open_temp:
    def __init__(self, data: bytes):
        import tempfile

        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "image.nii.gz"
        self.path.write_bytes(data)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc) -> None:
        self.dir.cleanup()


def test_mp4_upload_is_a_clip_with_frame_count_rate_and_the_projects_modality(
    echo, people, client_for, tmp_path
):
    video = write_video(tmp_path / "a4c.mp4", echo_frames(10), codec="libx264", rate=50)
    response = _post(client_for(people["manager"]), echo, ("a4c.mp4", video.read_bytes()))
    assert response.status_code == 201, response.data
    image = Case.objects.get(project=echo).image
    assert image.kind == "video" and image.modality == "US" and image.source_format == "video"
    assert image.frame_count == 10 and image.frame_rate == pytest.approx(50)
    assert image.shape == [64, 48, 10] and image.dtype == "uint8"
    assert (image.window_center, image.window_width) == (127.5, 255.0)
    stored = _stored(Case.objects.get(project=echo))
    assert stored.kind == "video" and stored.frame_rate == pytest.approx(50)
    assert stored.array.dtype == np.uint8 and stored.array.shape == (10, 48, 64)


def test_avi_through_the_cli(echo, tmp_path):
    video = write_video(
        tmp_path / "echo.avi",
        echo_frames(7),
        codec="mjpeg",
        container="avi",
        pix_fmt="yuvj420p",
        rate=30,
    )
    out = io.StringIO()
    call_command("import_cases", str(video), project="echo", no_progress=True, stdout=out)
    image = Case.objects.get(project=echo).image
    assert image.frame_count == 7 and image.frame_rate == pytest.approx(30)
    assert "imported ST-" in out.getvalue()


def test_truncated_video_is_a_400_and_nothing_is_kept(echo, people, client_for, tmp_path):
    data = write_video(tmp_path / "v.mp4", echo_frames(20), codec="libx264").read_bytes()
    response = _post(client_for(people["manager"]), echo, ("v.mp4", data[: len(data) * 2 // 3]))
    assert response.status_code == 400, response.data
    assert "v.mp4" in response.json()["detail"] and "truncated" in response.json()["detail"]
    assert not Case.objects.exists()
    assert AuditEvent.objects.filter(action="import.refused").exists()


def test_truncated_video_through_the_cli_is_an_error(echo, tmp_path):
    data = write_video(tmp_path / "v.avi", echo_frames(20), container="avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CommandError, match=r"cut\.avi"):
        call_command("import_cases", str(cut), project="echo", no_progress=True)
    assert not Case.objects.exists()


def test_video_declaring_too_much_is_a_400(echo, people, client_for, tmp_path, settings):
    settings.IMPORT_MAX_VOXELS = 5 * 48 * 64
    data = write_video(tmp_path / "long.mp4", echo_frames(12)).read_bytes()
    response = _post(client_for(people["manager"]), echo, ("long.mp4", data))
    assert response.status_code == 400, response.data
    assert "long.mp4: the video declares 12 frames" in response.json()["detail"]
    assert not Case.objects.exists()


def test_garbage_video_is_a_400(echo, people, client_for):
    response = _post(
        client_for(people["manager"]), echo, ("x.mp4", b"\0\0\0\x18ftypisom" + b"\x07" * 4000)
    )
    assert response.status_code == 400, response.data
    assert "x.mp4" in response.json()["detail"]
    assert not Case.objects.exists()


def test_video_into_a_volume_project_is_refused(project, people, client_for, tmp_path):
    data = write_video(tmp_path / "v.mp4", echo_frames(6)).read_bytes()
    response = _post(client_for(people["manager"]), project, ("v.mp4", data))
    assert response.status_code == 400 and "takes 3D volumes" in response.json()["detail"]


def test_camus_style_mhd_raw_sequence_is_a_clip_in_a_video_project(echo, people, client_for):
    frames = echo_frames(9, 20, 24)
    image = sitk.GetImageFromArray(frames)
    image.SetSpacing((0.154, 0.154, 1.0))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        header = Path(tmp) / "patient0001_4CH_half_sequence.mhd"
        sitk.WriteImage(image, str(header))
        files = [(header.name, header.read_bytes())]
        files.append((header.with_suffix(".raw").name, header.with_suffix(".raw").read_bytes()))
    response = _post(client_for(people["manager"]), echo, *files)
    assert response.status_code == 201, response.data
    assert any("2-D+t sequence of 9 frames" in n for n in response.data["notes"])
    stored = Case.objects.get(project=echo).image
    assert stored.kind == "video" and stored.frame_count == 9 and stored.modality == "US"
    assert stored.dtype == "uint8" and stored.source_format == "metaimage"
    assert stored.spacing[:2] == pytest.approx([0.154, 0.154])


def test_mha_volume_takes_the_projects_modality_and_geometry(people, client_for, tmp_path):
    mr = factories.project("liver-mr", modality="MR", manager=[people["manager"]])
    image, _ = sitk_volume()
    sitk.WriteImage(image, str(tmp_path / "scan.nrrd"), True)
    response = _post(
        client_for(people["manager"]), mr, ("scan.nrrd", (tmp_path / "scan.nrrd").read_bytes())
    )
    assert response.status_code == 201, response.data
    stored = Case.objects.get(project=mr).image
    assert stored.kind == "volume" and stored.modality == "MR" and stored.source_format == "nrrd"
    assert stored.spacing == pytest.approx(list(image.GetSpacing()))
    assert stored.origin == pytest.approx(list(image.GetOrigin()))
    assert stored.direction == pytest.approx(list(image.GetDirection()))


def test_mhd_without_its_raw_is_a_400(project, people, client_for, tmp_path):
    image, _ = sitk_volume()
    sitk.WriteImage(image, str(tmp_path / "scan.mhd"))
    response = _post(
        client_for(people["manager"]), project, ("scan.mhd", (tmp_path / "scan.mhd").read_bytes())
    )
    assert response.status_code == 400
    assert "scan.mhd: its data file 'scan.raw' is not in the upload" in response.json()["detail"]
    assert not Case.objects.exists()
