"""Video files (MP4, AVI, MKV) through PyAV: clips with their frame count and rate, uint8
luminance like DICOM cine; truncated, garbage and too-large files refused before (or while)
decoding, naming the file."""

from __future__ import annotations

import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from annotator.cases.imaging import ImportLimits, ImportRejected, load_sources, load_upload
from annotator.cases.imaging.dicom_files import SourceFile
from annotator.cases.imaging.video import probe_video, sniff_video
from tests.videos import AVI_CODECS, MP4_CODECS, echo_frames, write_video


@pytest.mark.parametrize(("codec", "container", "pix_fmt"), MP4_CODECS + AVI_CODECS)
def test_mp4_and_avi_import_as_clips_with_frame_count_and_rate(
    tmp_path: Path, limits, codec, container, pix_fmt
):
    frames = echo_frames(12)
    path = write_video(
        tmp_path / f"echo.{container}",
        frames,
        codec=codec,
        container=container,
        pix_fmt=pix_fmt,
        rate=Fraction(30000, 1001),
    )
    notes: list[str] = []
    (clip,) = load_sources([path], limits, notes=notes)
    assert clip.kind == "video" and clip.source_format == "video"
    assert clip.array.shape == (12, 48, 64) and clip.array.dtype == np.uint8
    assert clip.frame_rate == pytest.approx(30000 / 1001)
    assert clip.window == (127.5, 255.0)
    assert clip.spacing == (1.0, 1.0, 1.0) and clip.origin == (0.0, 0.0, 0.0)
    assert clip.modality == "OT"  # a video carries none: the import service sets the project's
    assert "12 frames" in clip.description and "30 fps" in clip.description
    # Lossy, but the frames are the ones encoded, in order (the blob's size follows the beat).
    error = np.abs(clip.array.astype(int) - frames.astype(int))
    assert error.mean() < 6, error.mean()
    blob = (clip.array > 150).sum(axis=(1, 2))
    assert np.corrcoef(blob, (frames > 150).sum(axis=(1, 2)))[0, 1] > 0.95
    assert notes == []


def test_webm_like_matroska_and_integer_rate(tmp_path: Path, limits):
    path = write_video(tmp_path / "clip.mkv", echo_frames(8), container="matroska", rate=15)
    (clip,) = load_upload("clip.mkv", path, limits)
    assert clip.array.shape[0] == 8 and clip.frame_rate == pytest.approx(15)


def test_video_inside_a_zip_keeps_its_name(tmp_path: Path, limits):
    video = write_video(tmp_path / "a.mp4", echo_frames(6))
    bundle = tmp_path / "study.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.write(video, "clips/apical4.mp4")
    (clip,) = load_sources([bundle], limits)
    assert clip.source_name == "study.zip/clips/apical4.mp4" and clip.array.shape[0] == 6


def test_sniffing_is_by_content():
    assert sniff_video(b"\0\0\0\x1cftypisom" + b"\0" * 8) == "mov"
    assert sniff_video(b"RIFF\0\0\0\0AVI LIST") == "avi"
    assert sniff_video(b"\x1a\x45\xdf\xa3" + b"\0" * 8) == "matroska"
    assert sniff_video(b"RIFF\0\0\0\0WAVEfmt ") is None


@pytest.mark.parametrize(("codec", "container", "pix_fmt"), [MP4_CODECS[1], AVI_CODECS[0]])
@pytest.mark.parametrize("keep", [0.3, 0.5, 0.8, 0.95])
def test_truncated_video_is_refused(tmp_path: Path, limits, codec, container, pix_fmt, keep):
    path = write_video(
        tmp_path / f"full.{container}",
        echo_frames(24),
        codec=codec,
        container=container,
        pix_fmt=pix_fmt,
    )
    data = path.read_bytes()
    cut = tmp_path / f"cut.{container}"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImportRejected) as err:
        load_sources([cut], limits)
    message = str(err.value)
    assert message.startswith(f"cut.{container}: ")
    assert "truncated" in message


@pytest.mark.parametrize(
    "data",
    [
        b"\0\0\0\x18ftypisom\0\0\0\0" + bytes(range(256)) * 20,  # MP4 magic, garbage after
        b"RIFF\x10\0\0\0AVI " + b"\xff" * 5000,  # AVI magic, garbage after
        b"\x1a\x45\xdf\xa3" + b"\x00" * 100,
    ],
    ids=["mp4", "avi", "mkv"],
)
def test_garbage_with_a_video_magic_is_refused(tmp_path: Path, limits, data):
    path = tmp_path / "garbage.bin"
    path.write_bytes(data)
    with pytest.raises(ImportRejected, match=r"^garbage\.bin: .*(corrupt|no video stream)"):
        load_sources([path], limits)


def test_declared_size_over_the_limit_is_refused_before_decoding(tmp_path: Path, scratch):
    path = write_video(tmp_path / "long.mp4", echo_frames(12))
    small = ImportLimits(scratch_dir=scratch, max_voxels=10 * 48 * 64)
    with pytest.raises(ImportRejected, match=r"long\.mp4: the video declares 12 frames of 64x48"):
        load_sources([path], small)
    one_frame = ImportLimits(scratch_dir=scratch, max_voxels=1000)
    with pytest.raises(ImportRejected, match=r"one frame of 64x48 is more than the limit"):
        load_sources([path], one_frame)


def test_decoding_stops_at_the_running_budget(tmp_path: Path, scratch):
    """A container that under-declares (or does not declare) its length is stopped by the
    voxel budget while decoding, not after."""
    path = write_video(tmp_path / "liar.avi", echo_frames(12), container="avi")
    plan = probe_video(SourceFile(path, "liar.avi"), "avi", "liar.avi", ImportLimits())
    plan.declared_frames = 0
    plan.limits = ImportLimits(scratch_dir=scratch, max_voxels=5 * 48 * 64)
    with pytest.raises(ImportRejected, match=r"liar\.avi: the video holds more than 5 frames"):
        plan.load(lambda: None)


def test_audio_only_file_is_refused(tmp_path: Path, limits):
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(ImportRejected, match=r"sound\.mp4: holds no video stream"):
        load_sources([path], limits)


def test_targets_csv_names_a_video_with_or_without_its_extension(tmp_path: Path, limits):
    from annotator.cases.imaging import match_targets, parse_targets_csv

    path = write_video(tmp_path / "echo_04.avi", echo_frames(6), container="avi")
    clips = load_sources([path], limits)
    rows = parse_targets_csv("case,label,frame,x0,y0,x1,y1\necho_04,LV,0,10,10,40,30\n")
    assert match_targets(rows, clips) == [rows]
