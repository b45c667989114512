"""Image import: user uploads → canonical volumes. Pure Python, no Django (limits come in as a
dataclass); the Django import service calls it and then creates the database rows.

Public API::

    ImportLimits            upload/zip/voxel limits (+ scratch_dir for temp files)
    ImageVolume             array (z, y, x) or (t, y, x) + LPS geometry + safe metadata
    DicomReference          source UIDs in slice order, for DICOM-SEG export
    ImportRejected          the one error; its message is user-facing and names the file
    load_sources(paths, limits, progress=None, notes=None) -> list[ImageVolume]
    load_upload(name, fileobj_or_path, limits, progress=None, notes=None) -> list[ImageVolume]
    parse_targets_csv(text_or_path) -> list[TargetRow]
    match_targets(rows, volumes) -> list[list[TargetRow]]   (aligned with volumes)
    validate_target(row, volume)
    write_canonical_nifti(volume, path)        gzip NIfTI-1, atomic
    read_canonical_nifti(path) -> ImageVolume
    pseudonym(fingerprint, key) -> "ST-XXXXXXXXXX"
    as_clip(volume) -> ImageVolume   a 3-D MetaImage/NRRD that `may_be_clip` as a 2-D+t clip
    REMOVED_ATTRIBUTES, TECHNICAL_ATTRIBUTES   what de-identification drops / keeps

(`synthetic` holds DICOM writers with fake but realistic headers for tests, bench and demos.)

`progress(done, total, message)` is called while headers are read and while pixels are decoded
(`total` grows once the pixel work is known). `notes`, when given a list, receives one line per
file or series that was skipped on purpose.

Decisions (details in docs/import.md):

- Geometry follows ITK/DICOM: LPS millimetres, origin = centre of voxel (0, 0, 0), direction
  columns = x/y/z axes. Slices are ordered by ImagePositionPatient projected on the slice normal
  (row × column cosine), never by file name or InstanceNumber; z spacing is the mean step of a
  stack that must be regular. A series is rejected for mixed orientations, different image
  sizes or pixel spacings, duplicate positions, missing slices (a gap > 1.5 × the median),
  irregular spacing, and gantry tilt (slices drifting sideways by more than half a pixel).
- Values: RescaleSlope/Intercept applied per slice; int16 when all values are integral and
  fit (CT HU), else float32; clips are uint8 luminance (0.299 R + 0.587 G + 0.114 B).
- Skipped with a note, not rejected, because PACS exports routinely contain them: non-image
  objects (SR, KO, PR, SEG, RTSTRUCT, RTDOSE, ...), DICOMDIR, localizer series, single images
  without patient geometry (radiographs, secondary captures, ultrasound stills), and a second
  copy of the same SOP instance. OS litter (__MACOSX/, .DS_Store, Thumbs.db, desktop.ini, ._*)
  is ignored. Anything else that is neither DICOM nor NIfTI rejects the import, naming the file.
- One bad series rejects the whole call (nothing is half-imported); all headers are checked
  before any pixel data is decoded. Zips are checked before extraction (traversal, links,
  encryption, member count, total size, compression ratio); a folder may hold zips, a zip may
  not.
- Multi-frame DICOM: per-frame plane positions → volume; CT/MR/PT/NM without them → volume in
  stored order with the spacing the header offers (noted); other multi-frame objects → clip.
  Frame rate: FrameTime, FrameTimeVector, CineRate, RecommendedDisplayFrameRate.
- NIfTI: sform if set and orthogonal, else qform, else pixdim; converted to LPS without
  resampling. 4-D with t = 1 → volume; x*y*1*t → clip; other 4-D/5-D → rejected. Modality is
  guessed (CT when air in HU is present, else OT); the caller may overwrite it.
- Video files (MP4/MOV, AVI, MKV/WebM) through PyAV: clips of uint8 luminance with the
  container's frame rate; the declared frame count × frame size is checked against the limits
  before decoding, frames are decoded one by one under a running voxel budget, and a file
  holding fewer frames than it declares is refused as truncated (video.py).
- MetaImage (.mha, .mhd + .raw) and NRRD (.nrrd, .nhdr + data) through SimpleITK, after their
  headers are checked against the limits and the bytes present (itk_formats.py). 3-D →
  volume (`may_be_clip`: the import service makes it a clip for a video project); x*y*1*t
  and NRRD with a time axis → clip. Modality as for NIfTI.
- Window: the DICOM WindowCenter/Width of the middle slice; else CT W400/L40, clips 0..255,
  others the 0.5–99.5 percentile of non-zero voxels.
- source_name: the NIfTI or multi-frame file, or the folder of a series; a DICOM volume that is
  the only one from its zip/folder/upload takes that name (case07.zip); repeats get #1, #2.
- Fingerprint: sha256 of study UID + series UID + sorted SOP instance UIDs (multi-frame: its
  SOP instance UID); NIfTI or UID-less DICOM: sha256 of geometry + voxel bytes.
- De-identification: only pixels, geometry, UIDs and whitelisted technical attributes are kept;
  see deid.py. Burned-in text in ultrasound pixels is out of scope (BurnedInAnnotation is kept
  in the metadata as a flag). ImageVolume's repr leaves out the source name.
"""

from .deid import REMOVED_ATTRIBUTES, TECHNICAL_ATTRIBUTES, pseudonym
from .itk_formats import as_clip
from .nifti import read_canonical_nifti, write_canonical_nifti
from .sources import load_sources, load_upload
from .targets import TargetRow, match_targets, parse_targets_csv, validate_target
from .volume import DicomReference, ImageVolume, ImportLimits, ImportRejected

__all__ = [
    "REMOVED_ATTRIBUTES",
    "TECHNICAL_ATTRIBUTES",
    "DicomReference",
    "ImageVolume",
    "ImportLimits",
    "ImportRejected",
    "TargetRow",
    "as_clip",
    "load_sources",
    "load_upload",
    "match_targets",
    "parse_targets_csv",
    "pseudonym",
    "read_canonical_nifti",
    "validate_target",
    "write_canonical_nifti",
]
