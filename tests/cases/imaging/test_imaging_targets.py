"""The targets CSV: parsing, line-numbered errors, matching rows to imported images."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.cases.imaging import (
    ImageVolume,
    ImportRejected,
    TargetRow,
    match_targets,
    parse_targets_csv,
    validate_target,
)


def volume(name: str, shape=(10, 32, 48), kind="volume") -> ImageVolume:
    return ImageVolume(
        array=np.zeros(shape, np.int16),
        spacing=(1.0, 1.0, 1.0),
        origin=(0.0, 0.0, 0.0),
        direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
        modality="CT",
        kind=kind,
        frame_rate=None,
        window=None,
        source_format="nifti",
        fingerprint="x",
        source_name=name,
        description="",
    )


def rejected(text: str, *needles: str) -> str:
    with pytest.raises(ImportRejected) as excinfo:
        parse_targets_csv(text)
    message = str(excinfo.value)
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def test_parse_a_full_file(tmp_path):
    text = (
        "\ufeffCase,Label,Slice,x0,y0,x1,y1,points,comment\n"
        "case01,lesion,5,10,12,20.5,30,12 14; 15 16 -,first\n"
        "\n"
        'case02.nii.gz,liver,0,0,0,48,32,,"big, with comma"\n'
    )
    path = tmp_path / "targets.csv"
    path.write_text(text, encoding="utf-8")
    for source in (text, path, str(path), text.encode("utf-8")):
        rows = parse_targets_csv(source)
        assert rows == [
            TargetRow("case01", "lesion", 5, (10, 12, 20.5, 30), ((12, 14, 1), (15, 16, 0)),
                      "first", 2),
            TargetRow("case02.nii.gz", "liver", 0, (0, 0, 48, 32), (), "big, with comma", 4),
        ]  # fmt: skip


def test_semicolon_delimited_file_and_frame_alias():
    rows = parse_targets_csv("case;label;frame;x0;y0;x1;y1\necho1;LV;3;1;2;3;4\n")
    assert rows[0].key_index == 3 and rows[0].box == (1, 2, 3, 4)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("", ("empty",)),
        ("case,label,key_index,x0,y0,x1,y1\n", ("no target rows",)),
        ("case,label,x0,y0,x1,y1\na,b,1,2,3,4\n", ("line 1", "missing column", "key_index")),
        ("case,lable,key_index,x0,y0,x1,y1\n", ("line 1", "unknown column 'lable'")),
        ("case,label,slice,frame,x0,y0,x1,y1\n", ("line 1", "appears twice")),
        ("case,label,key_index,x0,y0,x1,y1\na,b,1,2,3,4,5\n,,,,,,\nc,d,x,1,2,3,4\n",
         ("line 4", "key_index must be a number", "'x'")),
        ("case,label,key_index,x0,y0,x1,y1\na,b,2.5,1,2,3,4\n", ("line 2", "whole number")),
        ("case,label,key_index,x0,y0,x1,y1\na,b,-1,1,2,3,4\n", ("line 2", "whole number")),
        ("case,label,key_index,x0,y0,x1,y1\na,b,1,5,2,3,4\n", ("line 2", "x0 < x1")),
        ("case,label,key_index,x0,y0,x1,y1\na,b,1,1,4,3,4\n", ("line 2", "y0 < y1")),
        ("case,label,key_index,x0,y0,x1,y1\na,b,1,-1,2,3,4\n", ("line 2", ">= 0")),
        ("case,label,key_index,x0,y0,x1,y1\na,b,1,1,2,nan,4\n", ("line 2", "finite")),
        ("case,label,key_index,x0,y0,x1,y1\na,b,1,1,2,,4\n", ("line 2", "x1 column is empty")),
        ("case,label,key_index,x0,y0,x1,y1\n,b,1,1,2,3,4\n", ("line 2", "case column")),
        ("case,label,key_index,x0,y0,x1,y1\na,,1,1,2,3,4\n", ("line 2", "label column")),
        ("case,label,key_index,x0,y0,x1,y1\na,b,1,1,2,3,4,5\n", ("line 2", "8 values")),
        ("case,label,key_index,x0,y0,x1,y1,points\na,b,1,1,2,3,4,1 2 3 4\n", ("line 2", "point")),
        ("case,label,key_index,x0,y0,x1,y1,points\na,b,1,1,2,3,4,1 2 ?\n", ("line 2", "+ or -")),
    ],
)  # fmt: skip
def test_bad_files_name_the_line(text, needles):
    rejected(text, *needles)


def test_non_utf8_bytes():
    with pytest.raises(ImportRejected, match="UTF-8"):
        parse_targets_csv("case,label\n\xe9".encode("latin-1"))


def test_matching_by_name_variants():
    volumes = [volume("study.zip/pat1/CT"), volume("case02.nii.gz"), volume("clips/echo.dcm")]
    rows = parse_targets_csv(
        "case,label,key_index,x0,y0,x1,y1\n"
        "CT,lesion,1,1,1,5,5\n"
        "case02,lesion,2,1,1,5,5\n"
        "echo.dcm,LV,3,1,1,5,5\n"
        "pat1/ct,lesion,4,1,1,5,5\n"
    )
    matched = match_targets(rows, volumes)
    assert [[r.line for r in group] for group in matched] == [[2, 5], [3], [4]]


def test_matching_rejects_unknown_and_ambiguous_names():
    volumes = [volume("a.zip/pat1/CT"), volume("a.zip/pat2/CT")]
    rows = parse_targets_csv("case,label,key_index,x0,y0,x1,y1\nMR,lesion,1,1,1,5,5\n")
    with pytest.raises(ImportRejected, match=r"line 2: no imported image is called 'MR'.*CT"):
        match_targets(rows, volumes)
    rows = parse_targets_csv("case,label,key_index,x0,y0,x1,y1\nCT,lesion,1,1,1,5,5\n")
    with pytest.raises(ImportRejected, match="matches several images"):
        match_targets(rows, volumes)
    rows = parse_targets_csv("case,label,key_index,x0,y0,x1,y1\npat2/CT,lesion,1,1,1,5,5\n")
    assert [len(g) for g in match_targets(rows, volumes)] == [0, 1]


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ("10,1,1,5,5", "key slice 10 does not exist"),
        ("9,1,1,49,5", "outside the 48x32 image"),
        ("9,1,1,5,33", "outside the 48x32 image"),
    ],
)
def test_rows_are_checked_against_the_image(row, needle):
    rows = parse_targets_csv(f"case,label,key_index,x0,y0,x1,y1\nv,lesion,{row}\n")
    with pytest.raises(ImportRejected, match=needle):
        validate_target(rows[0], volume("v.nii"))
    ok = parse_targets_csv("case,label,key_index,x0,y0,x1,y1\nv,lesion,9,0,0,48,32\n")[0]
    validate_target(ok, volume("v.nii"))


def test_clip_rows_talk_about_frames():
    rows = parse_targets_csv("case,label,frame,x0,y0,x1,y1\nv,LV,12,1,1,5,5\n")
    with pytest.raises(ImportRejected, match="key frame 12 does not exist; the image has 10"):
        validate_target(rows[0], volume("v.dcm", kind="video"))


def test_a_window_per_target_as_a_preset_or_level_and_width():
    rows = parse_targets_csv(
        "case,label,slice,x0,y0,x1,y1,window,window_center,window_width\n"
        "a,lesion,1,0,0,4,4,Lung,,\n"
        "b,lesion,1,0,0,4,4,,-750,1500\n"
        "c,lesion,1,0,0,4,4,,,\n"
    )
    assert [r.window for r in rows] == ["lung", (-750.0, 1500.0), None]


@pytest.mark.parametrize(
    ("cells", "needle"),
    [
        ("sunset,,", "unknown CT window 'sunset'"),
        (",40,", "go together"),
        ("lung,40,400", "not both"),
        (",40,0", "width > 0"),
        (",40,wide", "window_width must be a number"),
    ],
)
def test_bad_windows_name_the_line(cells, needle):
    rejected(
        f"case,label,slice,x0,y0,x1,y1,window,window_center,window_width\na,lesion,1,0,0,4,4,{cells}\n",
        "line 2",
        needle,
    )
