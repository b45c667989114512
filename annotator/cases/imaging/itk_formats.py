"""MetaImage (.mha, .mhd + .raw/.zraw) and NRRD (.nrrd, .nhdr + data) through SimpleITK.

The header is parsed here first, and everything it declares is checked before SimpleITK reads
a byte of voxel data (SimpleITK allocates the declared size up front):

- dimensions, element type and channels (greyscale only) against `max_voxels` and
  `max_uncompressed_bytes`;
- the data file: the same file (MetaImage `LOCAL`, attached NRRD data) or one named file next
  to the header, never a path outside its folder, a file list or a pattern;
- the bytes present: raw data must fit in the data file; compressed data (MetaImage zlib, NRRD
  gzip/bzip2) is inflated once in a counting pass that keeps nothing, and must inflate to at
  least the declared size.

SimpleITK then reads a header written here (the parsed geometry fields only, pointing at the
checked data file), so it never follows a reference the checks did not see.

Geometry comes from SimpleITK, whose convention is the project's (LPS, origin = centre of voxel
(0, 0, 0), direction columns = the axes); NRRD's RAS spaces are converted by ITK. 3-D images are
volumes; 4-D with one slice per time point (x*y*1*t) are clips; NRRD whose last axis is of kind
`time` are clips. A 3-D image without a time marker may still be a 2-D+t sequence (CAMUS stores
echo sequences as 3-D MetaImage): it is read as a volume with `may_be_clip` set, and the import
service turns it into a clip when the project takes clips (`as_clip`). These formats carry no
modality: CT is guessed when air in HU is present, else OT, and the import service sets the
project's, as for NIfTI.
"""

from __future__ import annotations

import bz2
import os
import posixpath
import re
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import geometry
from .dicom_files import SourceFile
from .nifti import guess_modality
from .video import clip_volume
from .volume import ImageVolume, ImportLimits, ImportRejected

_MAX_HEADER = 64 * 1024
_CHUNK = 1024 * 1024
_OUT_CHUNK = 4 * 1024 * 1024
_DEFLATE_MAX_RATIO = 1032  # the most deflate can expand (also bounds bzip2 loosely: see below)
_BZIP2_MAX_RATIO = 46_000_000  # bzip2's theoretical maximum; the counting pass decides anyway

_META_FIRST_KEYS = {
    "objecttype",
    "objectsubtype",
    "ndims",
    "comment",
    "transformtype",
    "name",
    "id",
    "parentid",
    "binarydata",
    "dimsize",
    "elementtype",
}
# MetaIO element sizes (MET_LONG is 32 bits in MetaIO).
_META_TYPES = {
    "MET_UCHAR": 1,
    "MET_CHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG": 4,
    "MET_ULONG": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}
# Geometry and layout fields handed to SimpleITK; anything else (names, comments) is dropped.
_META_KEEP = {
    "objecttype",
    "ndims",
    "binarydata",
    "binarydatabyteordermsb",
    "elementbyteordermsb",
    "compresseddata",
    "compresseddatasize",
    "transformmatrix",
    "rotation",
    "orientation",
    "offset",
    "position",
    "origin",
    "centerofrotation",
    "anatomicalorientation",
    "elementspacing",
    "elementsize",
    "dimsize",
    "elementtype",
    "elementnumberofchannels",
}
_NRRD_TYPES = {
    **dict.fromkeys(("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8"), 1),
    **dict.fromkeys(("uint8_t",), 1),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16"), 2),
    **dict.fromkeys(("int16_t", "ushort", "unsigned short", "unsigned short int"), 2),
    **dict.fromkeys(("uint16", "uint16_t"), 2),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t", "uint", "unsigned int"), 4),
    **dict.fromkeys(("uint32", "uint32_t", "float"), 4),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long"), 8),
    **dict.fromkeys(("signed long long int", "int64", "int64_t", "ulonglong"), 8),
    **dict.fromkeys(("unsigned long long", "unsigned long long int", "uint64", "uint64_t"), 8),
    **dict.fromkeys(("double",), 8),
}
_NRRD_ENCODINGS = {"raw": "raw", "gzip": "gzip", "gz": "gzip", "bzip2": "bzip2", "bz2": "bzip2"}
_NRRD_KEEP = {
    "type",
    "dimension",
    "space",
    "space dimension",
    "sizes",
    "space directions",
    "spacings",
    "kinds",
    "endian",
    "encoding",
    "space origin",
    "space units",
    "centerings",
    "centers",
    "axis mins",
    "axismins",
    "axis maxs",
    "axismaxs",
    "measurement frame",
    "thicknesses",
}
_NRRD_COLOUR_KINDS = {
    "vector",
    "covariant-vector",
    "normal",
    "stub",
    "scalar",
    "complex",
    "rgb-color",
    "hsv-color",
    "xyz-color",
    "rgba-color",
    "2-vector",
    "3-color",
    "3-vector",
    "3-gradient",
    "3-normal",
    "4-color",
    "4-vector",
    "quaternion",
    "2d-symmetric-matrix",
    "2d-masked-symmetric-matrix",
    "2d-matrix",
    "2d-masked-matrix",
    "3d-symmetric-matrix",
    "3d-masked-symmetric-matrix",
    "3d-matrix",
    "3d-masked-matrix",
    "list",
    "point",
}


def sniff_itk(head: bytes) -> str | None:
    """'nrrd' or 'metaimage' for a header start, else None."""
    if re.match(rb"NRRD000\d\r?\n", head):
        return "nrrd"
    text = head.lstrip()[:200].decode("latin-1")
    first = re.match(r"([A-Za-z][A-Za-z0-9_]*)[ \t]*=", text)
    if first and first.group(1).lower() in _META_FIRST_KEYS:
        return "metaimage"
    return None


@dataclass
class ItkPlan:
    """A MetaImage/NRRD header, parsed and checked against its data (see `check`)."""

    source: SourceFile
    flavour: str  # "metaimage" or "nrrd"
    root: str
    limits: ImportLimits
    shape: tuple[int, ...] = ()  # file order, fastest axis first (x, y[, z[, t]])
    itemsize: int = 0
    encoding: str = "raw"  # raw, zlib (MetaImage), gzip, bzip2
    data_ref: str | None = None  # the data file as the header names it; None: in the header
    data: SourceFile | None = None  # the file holding the data (set by `resolve`)
    offset: int = 0  # where the data starts in it (after the check); -1: at the end
    compressed_size: int | None = None
    time_axis: bool = False  # NRRD: last axis of kind "time"
    header_lines: list[str] = field(default_factory=list)  # kept fields, for SimpleITK
    header_len: int = 0  # bytes of header in the header file
    notes: list[str] = field(default_factory=list)
    source_name: str = ""

    work = 1

    # --------------------------------------------------------------------------- header

    def parse(self) -> ItkPlan:
        with open(self.source.path, "rb") as fh:
            head = fh.read(_MAX_HEADER + 1)
        if self.flavour == "metaimage":
            self._parse_metaimage(head)
        else:
            self._parse_nrrd(head)
        self._check_shape()
        return self

    def _parse_metaimage(self, head: bytes) -> None:
        name = self.source.name
        fields: dict[str, str] = {}
        pos = 0
        while True:
            end = head.find(b"\n", pos)
            if end < 0 or end > _MAX_HEADER:
                raise ImportRejected(
                    f"{name}: the MetaImage header has no ElementDataFile line within its first "
                    f"{_MAX_HEADER // 1024} KiB; the file is corrupt or not a MetaImage."
                )
            line = head[pos:end].decode("latin-1").strip()
            pos = end + 1
            if not line:
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ImportRejected(f"{name}: the MetaImage header has a line without '='.")
            key, value = key.strip(), value.strip()
            fields[key.lower()] = value
            if key.lower() == "elementdatafile":
                break
            if key.lower() in _META_KEEP:
                self.header_lines.append(f"{key} = {value}")
        self.header_len = pos
        ndims = _int(fields.get("ndims"), name, "NDims")
        self.shape = tuple(_ints(fields.get("dimsize", ""), name, "DimSize"))
        if len(self.shape) != ndims:
            raise ImportRejected(
                f"{name}: NDims is {ndims} but DimSize has {len(self.shape)} values; the header "
                "is corrupt."
            )
        element = fields.get("elementtype", "").upper().removesuffix("_ARRAY")
        if element not in _META_TYPES:
            raise ImportRejected(
                f"{name}: MetaImage element type {fields.get('elementtype', 'missing')[:40]!r} "
                "is not supported (use MET_UCHAR, MET_SHORT, MET_FLOAT, ...)."
            )
        self.itemsize = _META_TYPES[element]
        channels = _int(fields.get("elementnumberofchannels", "1"), name, "channels")
        if channels != 1:
            raise ImportRejected(
                f"{name}: has {channels} values per voxel (colour or vector data); upload a "
                "greyscale image."
            )
        if fields.get("binarydata", "true").lower() in ("false", "0"):
            raise ImportRejected(
                f"{name}: ASCII MetaImage data is not supported; save it as binary (.mha)."
            )
        if fields.get("compresseddata", "false").lower() in ("true", "1"):
            self.encoding = "zlib"
            if "compresseddatasize" in fields:
                self.compressed_size = _int(fields["compresseddatasize"], name, "size")
        ref = fields.get("elementdatafile", "")
        if ref.upper() == "LOCAL":
            self.offset = self.header_len
        else:
            self.data_ref = _single_file(ref, name)
            self.offset = _int(fields.get("headersize", "0"), name, "HeaderSize")

    def _parse_nrrd(self, head: bytes) -> None:
        name = self.source.name
        lines = head.split(b"\n")
        fields: dict[str, str] = {}
        pos = len(lines[0]) + 1
        self.header_lines.append(lines[0].decode("latin-1").strip())
        attached = False
        for raw in lines[1:]:
            if pos + len(raw) > _MAX_HEADER:
                raise ImportRejected(
                    f"{name}: the NRRD header is longer than {_MAX_HEADER // 1024} KiB; the file "
                    "is corrupt."
                )
            pos += len(raw) + 1
            line = raw.decode("latin-1").rstrip("\r")
            if not line.strip():
                attached = True
                break
            if line.startswith("#") or ":=" in line:
                continue  # comments and key/value pairs: free text, never passed on
            key, sep, value = line.partition(":")
            if not sep:
                raise ImportRejected(f"{name}: the NRRD header has a line without ':'.")
            key, value = key.strip().lower(), value.strip()
            fields[key] = value
            if key in _NRRD_KEEP:
                self.header_lines.append(f"{key}: {value}")
        self.header_len = min(pos, len(head))
        kind = fields.get("type", "").lower()
        if kind not in _NRRD_TYPES:
            raise ImportRejected(
                f"{name}: NRRD type {fields.get('type', 'missing')[:40]!r} is not supported."
            )
        self.itemsize = _NRRD_TYPES[kind]
        self.shape = tuple(_ints(fields.get("sizes", ""), name, "sizes"))
        if len(self.shape) != _int(fields.get("dimension"), name, "dimension"):
            raise ImportRejected(
                f"{name}: NRRD dimension and sizes disagree; the header is corrupt."
            )
        kinds = fields.get("kinds", "").lower().split()
        if any(k in _NRRD_COLOUR_KINDS for k in kinds) and len(self.shape) > 1:
            raise ImportRejected(
                f"{name}: has several values per voxel (colour or vector data); upload a "
                "greyscale image."
            )
        self.time_axis = len(kinds) == len(self.shape) == 3 and kinds[-1] == "time"
        encoding = fields.get("encoding", "").lower()
        if encoding not in _NRRD_ENCODINGS:
            raise ImportRejected(
                f"{name}: NRRD encoding {encoding[:20]!r} is not supported; save it with raw or "
                "gzip encoding."
            )
        self.encoding = _NRRD_ENCODINGS[encoding]
        ref = fields.get("data file", fields.get("datafile"))
        line_skip = _int(fields.get("line skip", fields.get("lineskip", "0")), name, "line skip")
        byte_skip = _int(fields.get("byte skip", fields.get("byteskip", "0")), name, "byte skip")
        if line_skip < 0 or byte_skip < -1 or (byte_skip == -1 and self.encoding != "raw"):
            raise ImportRejected(f"{name}: the NRRD skips are invalid; the header is corrupt.")
        if ref is not None:
            self.data_ref = _single_file(ref, name)
            self.offset = byte_skip
            if line_skip:
                self.header_lines.append(f"line skip: {line_skip}")
        elif attached:
            if line_skip or byte_skip:
                raise ImportRejected(
                    f"{name}: line or byte skips in a NRRD with attached data are not supported."
                )
            self.offset = self.header_len
        else:
            raise ImportRejected(
                f"{name}: the NRRD header has neither attached data nor a data file."
            )

    def _check_shape(self) -> None:
        name, shape = self.source.name, self.shape
        if not 2 <= len(shape) <= 4 or min(shape) < 1:
            raise ImportRejected(
                f"{name}: has {len(shape)} dimensions ({'x'.join(map(str, shape))}); only 2-D, "
                "3-D, or 2-D+t images stored as x*y*1*t can be imported."
            )
        if len(shape) == 4 and shape[2] != 1 and shape[3] != 1:
            raise ImportRejected(
                f"{name}: is a 4-D image ({'x'.join(map(str, shape))}); only 3-D volumes or "
                "2-D clips stored as x*y*1*t can be imported. Split it into one 3-D file per "
                "time point."
            )
        voxels = int(np.prod(shape, dtype=np.int64))
        if voxels > self.limits.max_voxels:
            raise ImportRejected(
                f"{name}: {'x'.join(map(str, shape))} voxels is more than the limit of "
                f"{self.limits.max_voxels}."
            )
        if voxels * self.itemsize > self.limits.max_uncompressed_bytes:
            raise ImportRejected(
                f"{name}: the header declares {voxels * self.itemsize} bytes of voxel data, "
                f"more than the limit of {self.limits.max_uncompressed_bytes} bytes."
            )

    @property
    def declared(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.itemsize

    # --------------------------------------------------------------------------- data file

    def resolve(self, claim: Callable[[str], SourceFile | None]) -> None:
        """Find the data file (`claim` takes a display name and returns that queued file)."""
        if self.data_ref is None:
            self.data = self.source
            return
        folder = posixpath.dirname(self.source.name)
        wanted = posixpath.normpath(posixpath.join(folder, self.data_ref))
        self.data = claim(wanted)
        if self.data is None:
            raise ImportRejected(
                f"{self.source.name}: its data file {self.data_ref!r} is not in the upload. "
                "Upload the header and its data file together (in one zip or folder), or save "
                "the image as one file (.mha or .nrrd)."
            )

    def check_data(self) -> None:
        """Declared size against the bytes present; compressed data is inflated once and
        counted, keeping nothing."""
        assert self.data is not None
        name, declared = self.source.name, self.declared
        size = self.data.path.stat().st_size
        if self.encoding == "raw":
            start = size - declared if self.offset == -1 else self.offset
            if start < 0 or start + declared > size:
                raise ImportRejected(
                    f"{name}: the image is corrupt or truncated: its header declares {declared} "
                    f"bytes of voxel data, but {self.data.name} holds {max(0, size - start)} "
                    "from where the data starts. Upload it again."
                )
            return
        if self.offset < 0 or self.offset > size:
            raise ImportRejected(f"{name}: the data offset lies outside {self.data.name}.")
        stored = size - self.offset
        if self.compressed_size is not None:
            if self.compressed_size > stored or self.compressed_size <= 0:
                raise ImportRejected(
                    f"{name}: the image is corrupt or truncated: its header declares "
                    f"{self.compressed_size} bytes of compressed data, but {self.data.name} "
                    f"holds {stored}. Upload it again."
                )
            stored = self.compressed_size
        ratio = _BZIP2_MAX_RATIO if self.encoding == "bzip2" else _DEFLATE_MAX_RATIO
        if declared > stored * ratio:
            raise ImportRejected(
                f"{name}: the image is corrupt or truncated: its header declares {declared} "
                f"bytes of voxel data, more than {stored} bytes of compressed data can hold. "
                "Upload it again."
            )
        got = _inflated_size(self.data.path, self.offset, stored, self.encoding, declared)
        if got < declared:
            raise ImportRejected(
                f"{name}: the image is corrupt or truncated: its header declares {declared} "
                f"bytes of voxel data, but the compressed data holds {got}. Upload it again."
            )

    # --------------------------------------------------------------------------- reading

    def load(self, advance: Callable[[], None]) -> ImageVolume:
        self.check_data()
        image = self._read()
        volume = self._volume(image)
        volume.source_name = self.source_name
        advance()
        return volume

    def _read(self):
        import SimpleITK as sitk

        assert self.data is not None
        name = self.source.name
        with tempfile.TemporaryDirectory(prefix="itk-", dir=self.limits.scratch_dir) as tmp:
            data = Path(tmp) / "data.raw"
            try:
                os.symlink(self.data.path.resolve(), data)
            except OSError:  # pragma: no cover - no symlinks on this file system
                data.write_bytes(self.data.path.read_bytes())
            lines = list(self.header_lines)
            if self.flavour == "metaimage":
                header = Path(tmp) / "image.mhd"
                if self.offset:
                    lines.append(f"HeaderSize = {self.offset}")
                lines.append("ElementDataFile = data.raw")
                io_name = "MetaImageIO"
            else:
                header = Path(tmp) / "image.nhdr"
                if self.data_ref is None:  # attached: skip the header's lines in the file
                    lines.append(f"line skip: {self.source_header_newlines()}")
                elif self.offset:
                    lines.append(f"byte skip: {self.offset}")
                lines.append("data file: data.raw")
                io_name = "NrrdImageIO"
            header.write_text("\n".join(lines) + "\n", encoding="latin-1")
            try:
                return sitk.ReadImage(str(header), imageIO=io_name)
            except MemoryError:
                raise
            except Exception as exc:  # SimpleITK raises RuntimeError for every failure
                message = str(exc).strip().splitlines()
                detail = message[-1][:160] if message else type(exc).__name__
                detail = detail.replace(tmp, "")
                raise ImportRejected(
                    f"{name}: SimpleITK cannot read it; the file is corrupt or truncated "
                    f"({detail}). Upload it again."
                ) from exc

    def source_header_newlines(self) -> int:
        with open(self.source.path, "rb") as fh:
            return fh.read(self.header_len).count(b"\n")

    def _volume(self, image) -> ImageVolume:
        import SimpleITK as sitk

        name = self.source.name
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise ImportRejected(f"{name}: colour or vector data is not supported.")
        dim = image.GetDimension()
        view = sitk.GetArrayViewFromImage(image)
        spacing = np.array(image.GetSpacing(), dtype=np.float64)
        origin = np.array(image.GetOrigin(), dtype=np.float64)
        direction = np.array(image.GetDirection(), dtype=np.float64).reshape(dim, dim)
        clip = self.time_axis
        if dim == 4:
            if view.shape[1] == 1 and view.shape[0] > 1:  # (t, 1, y, x): a clip
                view, clip = view[:, 0], True
            else:  # (1, z, y, x): a volume
                view = view[0]
            spacing, origin, direction = spacing[:3], origin[:3], direction[:3, :3]
        elif dim == 2:
            view = view[None]
            spacing = np.append(spacing, 1.0)
            origin = np.append(origin, 0.0)
            square = np.eye(3)
            square[:2, :2] = direction
            direction = square
        array = self._canonical(view, keep_uint8=clip)
        del image, view
        if clip:
            self.notes.append(f"{name}: 2-D+t image imported as a clip (frame rate unknown)")
            return clip_volume(
                array,
                frame_rate=None,
                source_format=self.flavour,
                source_name=name,
                spacing_xy=(spacing[0], spacing[1]),
            )
        if not np.all(np.isfinite(spacing)) or np.any(spacing <= 1e-6):
            raise ImportRejected(f"{name}: a voxel size is zero or invalid ({spacing.tolist()}).")
        if not np.all(np.isfinite(direction)) or not geometry.is_orthonormal(direction):
            raise ImportRejected(
                f"{name}: the image axes are not perpendicular (sheared direction). Resample "
                "the image to an orthogonal grid (e.g. with SimpleITK) and upload again."
            )
        spacing_t = tuple(float(s) for s in spacing)
        origin_t = tuple(float(o) for o in origin)
        direction_t = tuple(float(d) for d in direction.reshape(-1))
        modality = guess_modality(array)
        return ImageVolume(
            array=array,
            spacing=spacing_t,  # type: ignore[arg-type]
            origin=origin_t,  # type: ignore[arg-type]
            direction=direction_t,
            modality=modality,
            kind="volume",
            frame_rate=None,
            window=geometry.computed_window(array, modality),
            source_format=self.flavour,
            fingerprint=geometry.content_fingerprint(array, spacing_t, origin_t, direction_t),
            source_name=name,
            description=geometry.describe(modality, "volume", array.shape, spacing_t),
            may_be_clip=array.shape[0] > 1,
        )

    def _canonical(self, view: np.ndarray, keep_uint8: bool) -> np.ndarray:
        if keep_uint8 and view.dtype == np.uint8:
            return np.array(view)
        if view.dtype.kind == "f" and not np.all(np.isfinite(view)):
            bad = int(np.count_nonzero(~np.isfinite(view)))
            view = np.nan_to_num(view, nan=0.0, posinf=0.0, neginf=0.0)
            self.notes.append(f"{self.source.name}: {bad} NaN/infinite voxels set to 0")
        out = geometry.rescale_stack(view)
        # rescale_stack may return its input: never keep a view of SimpleITK's buffer.
        return np.array(out) if np.shares_memory(out, view) else out


def as_clip(volume: ImageVolume) -> ImageVolume:
    """A 3-D image that `may_be_clip` (MetaImage/NRRD without a time marker) as a 2-D+t clip:
    slices become frames, in-plane spacing is kept, frame rate unknown; 8-bit values become
    uint8 like other clips."""
    array = volume.array
    integral = np.issubdtype(array.dtype, np.integer) and array.dtype != np.uint8
    if integral and array.size and array.min() >= 0 and array.max() <= 255:
        array = array.astype(np.uint8)
    clip = clip_volume(
        array,
        frame_rate=None,
        source_format=volume.source_format,
        source_name=volume.source_name,
        spacing_xy=(volume.spacing[0], volume.spacing[1]),
        metadata=volume.metadata,
    )
    return replace(clip, fingerprint=volume.fingerprint, modality=volume.modality)


def _inflated_size(path: Path, offset: int, stored: int, encoding: str, wanted: int) -> int:
    """Bytes the compressed data inflates to, counted up to `wanted` (nothing is kept)."""
    # zlib or gzip header: wbits 32 + 15 detects either.
    inflater = bz2.BZ2Decompressor() if encoding == "bzip2" else zlib.decompressobj(47)
    got = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        left = stored
        try:
            while left > 0 and got < wanted:
                chunk = fh.read(min(left, _CHUNK))
                if not chunk:
                    break
                left -= len(chunk)
                if encoding == "bzip2":
                    got += len(inflater.decompress(chunk, _OUT_CHUNK))
                    while not inflater.needs_input and not inflater.eof and got < wanted:
                        got += len(inflater.decompress(b"", _OUT_CHUNK))
                else:
                    got += len(inflater.decompress(chunk, _OUT_CHUNK))
                    while inflater.unconsumed_tail and got < wanted:
                        got += len(inflater.decompress(inflater.unconsumed_tail, _OUT_CHUNK))
                if getattr(inflater, "eof", False):
                    break
        except (zlib.error, OSError, EOFError, ValueError):
            return got  # corrupt data: what inflated so far decides
    return got


def _single_file(ref: str, name: str) -> str:
    """The one data file a header names, relative to the header's folder."""
    ref = ref.strip()
    normal = ref.replace("\\", "/")
    if not ref or ref.upper().startswith("LIST") or "%" in ref:
        raise ImportRejected(
            f"{name}: the image data is split over several files (a file list or pattern); "
            "save it as one file (.mha or .nrrd) and upload again."
        )
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal) or ".." in normal.split("/"):
        raise ImportRejected(
            f"{name}: names a data file outside its own folder ({ref[:80]!r}); put the data "
            "file next to the header and upload both."
        )
    return normal


def _int(value, name: str, what: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise ImportRejected(
            f"{name}: the header's {what} is missing or not a number; the file is corrupt."
        ) from None


def _ints(value: str, name: str, what: str) -> list[int]:
    try:
        return [int(v) for v in value.split()]
    except ValueError:
        raise ImportRejected(
            f"{name}: the header's {what} is not a list of numbers; the file is corrupt."
        ) from None
