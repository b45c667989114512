"""The targets CSV: one row per target to pre-segment, with a box on its key slice/frame.

Columns (header row required, names case-insensitive, any order):

    case        which imported image: its file/folder name, with or without .nii/.nii.gz/.dcm/
                .zip/.mha/.mhd/.nrrd/.nhdr/.mp4/.avi/... (or the full source path inside a zip
                when names repeat)
    label       the target's label, e.g. "lesion" or "LV"
    key_index   0-based slice (volume) or frame (clip) of the box; aliases: slice, frame,
                key_slice, key_frame. Slices are counted in the canonical order: sorted along
                the slice normal, 0 = the first slice of the stored volume.
    x0,y0,x1,y1 the box in voxel coordinates of that slice: x = column (0 = left of the stored
                image), y = row (0 = top); 0 <= x0 < x1 <= width, 0 <= y0 < y1 <= height
    points      optional extra clicks: "x y [+|-]" separated by ";" (+ = inside, the default)
    comment     optional free text, kept with the row
    window      optional: the model's intensity window for this target, a CT preset name
                (abdomen, lung, brain, mediastinum, bone); or
    window_center, window_width   optional, together: the window as level/width in HU (as
                DeepLesion gives one per lesion). Pre-segmentation, fine-tuning and evaluation
                all use it; without one, the project's default window, else the image's.

Delimiter: comma, or semicolon/tab when the header uses those. UTF-8 (a BOM is fine).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .volume import ImageVolume, ImportRejected

MAX_ROWS = 100_000
KEY_ALIASES = ("key_index", "slice", "frame", "key_slice", "key_frame")
BOX_COLUMNS = ("x0", "y0", "x1", "y1")
WINDOW_COLUMNS = ("window", "window_center", "window_width")
OPTIONAL = ("points", "comment", *WINDOW_COLUMNS)
_EXTENSIONS = (
    *(".nii.gz", ".nii", ".dcm", ".zip", ".mha", ".mhd", ".nrrd", ".nhdr"),
    *(".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm"),
)


@dataclass(frozen=True)
class TargetRow:
    case: str
    label: str
    key_index: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 (voxel coordinates)
    points: tuple[tuple[float, float, int], ...] = ()  # (x, y, 1 inside / 0 outside)
    comment: str = ""
    line: int = 0  # line in the CSV file, for messages
    window: str | tuple[float, float] | None = None  # preset name or (center, width)


def parse_targets_csv(text_or_path: str | bytes | os.PathLike) -> list[TargetRow]:
    """Parse and check a targets CSV (text, bytes, or a path); ImportRejected names the line."""
    text = _read_text(text_or_path)
    lines = text.splitlines()
    header_line = next((ln for ln in lines if ln.strip()), None)
    if header_line is None:
        raise ImportRejected("targets CSV: the file is empty; it needs a header row and rows.")
    delimiter = ","
    if "," not in header_line:
        delimiter = ";" if ";" in header_line else "\t" if "\t" in header_line else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns = None
    rows: list[TargetRow] = []
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if columns is None:
            columns = _columns(record)
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportRejected(f"targets CSV: more than {MAX_ROWS} rows; split the file.")
        rows.append(_row(record, columns, line))
    if not rows:
        raise ImportRejected("targets CSV: there is a header but no target rows.")
    return rows


def _read_text(source) -> str:
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _is_file(source)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImportRejected(f"targets CSV: cannot read {path.name} ({exc}).") from exc
    else:
        data = source
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportRejected(
                f"targets CSV: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV."
            ) from exc
    return data.lstrip("\ufeff")


def _is_file(text: str) -> bool:
    if "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).is_file()
    except OSError:
        return False


def _columns(record: list[str]) -> dict[str, int]:
    names = [c.strip().lower() for c in record]
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        canonical = "key_index" if name in KEY_ALIASES else name
        if canonical not in ("case", "label", "key_index", *BOX_COLUMNS, *OPTIONAL):
            allowed = ", ".join(("case", "label", "key_index", *BOX_COLUMNS, *OPTIONAL))
            raise ImportRejected(
                f"targets CSV line 1: unknown column {record[i].strip()!r}; allowed: {allowed} "
                f"(key_index may also be called {', '.join(KEY_ALIASES[1:])})."
            )
        if canonical in index:
            raise ImportRejected(f"targets CSV line 1: column {canonical!r} appears twice.")
        index[canonical] = i
    missing = [c for c in ("case", "label", "key_index", *BOX_COLUMNS) if c not in index]
    if missing:
        raise ImportRejected(
            f"targets CSV line 1: missing column(s) {', '.join(missing)}; the header must have "
            "case,label,key_index,x0,y0,x1,y1 (points, comment and the window columns are "
            "optional)."
        )
    return index


def _row(record: list[str], columns: dict[str, int], line: int) -> TargetRow:
    where = f"targets CSV line {line}"

    def cell(name: str) -> str:
        i = columns.get(name)
        return record[i].strip() if i is not None and i < len(record) else ""

    if len(record) > len(columns) and any(c.strip() for c in record[len(columns) :]):
        raise ImportRejected(
            f"{where}: has {len(record)} values but the header has {len(columns)} columns "
            "(a comma inside a value needs quotes)."
        )
    case, label = cell("case"), cell("label")
    if not case:
        raise ImportRejected(f"{where}: the case column is empty.")
    if not label:
        raise ImportRejected(f"{where}: the label column is empty.")
    key_text = cell("key_index")
    key = _number(key_text, where, "key_index")
    if key != int(key) or key < 0:
        raise ImportRejected(
            f"{where}: key_index must be a whole number >= 0 (a 0-based slice/frame), "
            f"got {key_text!r}."
        )
    x0, y0, x1, y1 = (_number(cell(c), where, c) for c in BOX_COLUMNS)
    if min(x0, y0) < 0:
        raise ImportRejected(f"{where}: box coordinates must be >= 0, got {[x0, y0, x1, y1]}.")
    if not (x0 < x1 and y0 < y1):
        raise ImportRejected(
            f"{where}: the box must have x0 < x1 and y0 < y1 (top-left, then bottom-right), "
            f"got x0={x0:g}, y0={y0:g}, x1={x1:g}, y1={y1:g}."
        )
    return TargetRow(
        case=case,
        label=label,
        key_index=int(key),
        box=(x0, y0, x1, y1),
        points=_points(cell("points"), where),
        comment=cell("comment"),
        line=line,
        window=_window(cell("window"), cell("window_center"), cell("window_width"), where),
    )


def _window(name: str, center: str, width: str, where: str):
    from inference.windows import parse_window

    if name and (center or width):
        raise ImportRejected(
            f"{where}: give the window as a preset name or as window_center/window_width, not both."
        )
    if bool(center) != bool(width):
        raise ImportRejected(f"{where}: window_center and window_width go together.")
    if not (name or center):
        return None
    try:
        return (
            parse_window(name)
            if name
            else parse_window(
                (_number(center, where, "window_center"), _number(width, where, "window_width"))
            )
        )
    except ValueError as exc:
        raise ImportRejected(f"{where}: {exc}.") from None


def _number(text: str, where: str, column: str) -> float:
    if not text:
        raise ImportRejected(f"{where}: the {column} column is empty.")
    try:
        value = float(text)
    except ValueError:
        raise ImportRejected(f"{where}: {column} must be a number, got {text!r}.") from None
    if not math.isfinite(value):
        raise ImportRejected(f"{where}: {column} must be a finite number, got {text!r}.")
    return value


def _points(text: str, where: str) -> tuple[tuple[float, float, int], ...]:
    if not text:
        return ()
    points = []
    for item in text.split(";"):
        parts = item.split()
        if not parts:
            continue
        if len(parts) not in (2, 3):
            raise ImportRejected(
                f"{where}: point {item.strip()!r} must be 'x y' or 'x y +' / 'x y -'."
            )
        x, y = (_number(p, where, "points") for p in parts[:2])
        sign = parts[2] if len(parts) == 3 else "+"
        if sign not in ("+", "-", "1", "0"):
            raise ImportRejected(f"{where}: point label {sign!r} must be + or - (or 1 / 0).")
        if min(x, y) < 0:
            raise ImportRejected(f"{where}: point {item.strip()!r} has a negative coordinate.")
        points.append((x, y, 1 if sign in ("+", "1") else 0))
    return tuple(points)


def case_keys(source_name: str) -> set[str]:
    """Names a CSV row may use for a source: every trailing part of its path, each with and
    without an image/zip extension, compared case-insensitively."""
    parts = [p for p in source_name.split("/") if p]
    keys = set()
    for i in range(len(parts)):
        tail = "/".join(parts[i:])
        keys.add(tail.casefold())
        for suffix in _EXTENSIONS:
            if tail.lower().endswith(suffix):
                keys.add(tail[: -len(suffix)].casefold())
    return keys


def _short_name(source_name: str) -> str:
    base = source_name.rstrip("/").split("/")[-1]
    for suffix in _EXTENSIONS:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def validate_target(row: TargetRow, volume: ImageVolume) -> None:
    """Check a row against the image it names (slice/frame and box inside the image)."""
    nz, ny, nx = volume.array.shape
    where = f"targets CSV line {row.line} ({row.case})"
    unit = "frame" if volume.kind == "video" else "slice"
    if row.key_index >= nz:
        raise ImportRejected(
            f"{where}: key {unit} {row.key_index} does not exist; the image has {nz} {unit}s "
            f"(0..{nz - 1})."
        )
    x0, y0, x1, y1 = row.box
    if x1 > nx or y1 > ny:
        raise ImportRejected(
            f"{where}: the box {[x0, y0, x1, y1]} reaches outside the {nx}x{ny} image "
            f"(x1 <= {nx}, y1 <= {ny})."
        )
    for x, y, _ in row.points:
        if x >= nx or y >= ny:
            raise ImportRejected(f"{where}: point ({x:g}, {y:g}) is outside the {nx}x{ny} image.")


def match_targets(
    rows: Sequence[TargetRow], volumes: Sequence[ImageVolume]
) -> list[list[TargetRow]]:
    """Assign each row to exactly one volume (by case_keys) and validate it; the result is
    aligned with `volumes`. Unknown or ambiguous case names are rejected with their line."""
    keyed = [case_keys(v.source_name) for v in volumes]
    result: list[list[TargetRow]] = [[] for _ in volumes]
    for row in rows:
        wanted = row.case.strip().strip("/").casefold()
        hits = [i for i, keys in enumerate(keyed) if wanted in keys]
        if not hits:
            known = sorted({_short_name(v.source_name) for v in volumes})
            raise ImportRejected(
                f"targets CSV line {row.line}: no imported image is called {row.case!r}. "
                f"Images in this import: {', '.join(known[:20])}."
            )
        if len(hits) > 1:
            names = ", ".join(volumes[i].source_name for i in hits[:5])
            raise ImportRejected(
                f"targets CSV line {row.line}: {row.case!r} matches several images ({names}); "
                "use the longer path to say which."
            )
        validate_target(row, volumes[hits[0]])
        result[hits[0]].append(row)
    return result
