"""Synthetic DICOM writers for tests, benchmarks and demos (known geometry and values).

The files carry a realistic, fully fake header — including patient name, ID and birth date —
so that de-identification can be checked end to end.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    generate_uid,
)

FAKE_PATIENT = {
    "PatientName": "Testpatient^Fiona^Q",
    "PatientID": "PID-93731-XQ",
    "PatientBirthDate": "19610423",
    "PatientSex": "F",
    "PatientAddress": "12 Imaginary Lane, Nowhere",
    "OtherPatientIDs": "ALT-55120",
    "AccessionNumber": "ACC7781234",
    "InstitutionName": "Saint Nobody Hospital",
    "ReferringPhysicianName": "Referrer^Robert",
    "OperatorsName": "Operator^Olga",
    "StudyID": "STUDY-4411",
    "DeviceSerialNumber": "SN-000-4242",
}

_SOP_CLASS = {
    "CT": CTImageStorage,
    "MR": MRImageStorage,
    "PT": PositronEmissionTomographyImageStorage,
}


def ct_phantom(n_slices: int, size: int, seed: int = 0) -> np.ndarray:
    """A CT-like HU volume (z, y, x) int16: air, a soft-tissue body ellipse, noise, a bright
    spheroid 'lesion' in the middle."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2.0
    body = ((xx - c) / (0.42 * size)) ** 2 + ((yy - c) / (0.34 * size)) ** 2 <= 1.0
    base = np.where(body, 40, -1000).astype(np.int16)
    volume = np.empty((n_slices, size, size), np.int16)
    noise = rng.integers(-20, 21, size=(8, size, size), dtype=np.int16)
    zc = (n_slices - 1) / 2.0
    for z in range(n_slices):
        volume[z] = base + noise[z % 8]
        r = max(0.0, 1.0 - ((z - zc) / max(1.0, 0.15 * n_slices)) ** 2)
        if r > 0:
            lesion = (xx - c * 1.1) ** 2 + (yy - c * 0.9) ** 2 <= (0.08 * size) ** 2 * r
            volume[z][lesion] += 60
    return volume


def write_series(
    folder: Path,
    values: np.ndarray,
    *,
    modality: str = "CT",
    spacing: tuple[float, float, float] = (0.7, 0.7, 1.25),
    origin: Sequence[float] = (-180.0, -180.0, -100.0),
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    slope: float = 1.0,
    intercept: float = -1024.0,
    shuffle_names: bool = True,
    reverse_instance_numbers: bool = False,
    transfer_syntax: str = ExplicitVRLittleEndian,
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 3,
    window: tuple[float, float] | None = (40.0, 400.0),
    patient: dict | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write `values` (z, y, x, real-world units) as a single-frame series; slice k sits at
    origin + k * spacing_z * normal. Returns the written paths in slice order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n, rows, cols = values.shape
    row_dir = np.asarray(orientation[:3], dtype=np.float64)
    col_dir = np.asarray(orientation[3:], dtype=np.float64)
    normal = np.cross(row_dir, col_dir)
    normal /= np.linalg.norm(normal)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    stored = np.rint((values.astype(np.float64) - intercept) / slope)
    signed = stored.min() < 0
    stored = stored.astype(np.int16 if signed else np.uint16)
    names = [f"IM{k:04d}.dcm" for k in range(n)]
    if shuffle_names:
        names = [f"{int(x):08x}.dcm" for x in rng.choice(2**31, size=n, replace=False)]
    paths = []
    for k in range(n):
        sop_uid = generate_uid()
        ds = _base_dataset(modality, sop_uid, transfer_syntax, patient)
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.SeriesNumber = series_number
        ds.InstanceNumber = (n - k) if reverse_instance_numbers else (k + 1)
        position = np.asarray(origin, dtype=np.float64) + k * spacing[2] * normal
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
        ds.PixelSpacing = [f"{spacing[1]:.6f}", f"{spacing[0]:.6f}"]
        ds.SliceThickness = f"{spacing[2]:.4f}"
        ds.SliceLocation = f"{position @ normal:.4f}"
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if signed else 0
        ds.RescaleSlope = f"{slope:g}"
        ds.RescaleIntercept = f"{intercept:g}"
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        if UID(transfer_syntax) != ExplicitVRLittleEndian:
            ds.compress(transfer_syntax, stored[k])
        path = folder / names[k]
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _base_dataset(modality: str, sop_uid: str, transfer_syntax: str, patient) -> Dataset:
    meta = FileMetaDataset()
    sop_class = _SOP_CLASS.get(modality, CTImageStorage)
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate, ds.StudyTime = "20240131", "101500"
    ds.SeriesDate, ds.SeriesTime = "20240131", "101800"
    ds.Modality = modality
    ds.Manufacturer = "Synthetic Scanners"
    ds.ManufacturerModelName = "Phantom 3000"
    ds.StudyDescription = "CT ABDOMEN Testpatient follow-up"
    ds.SeriesDescription = "Axial 1.25 soft tissue"
    ds.BodyPartExamined = "ABDOMEN"
    ds.KVP = "120"
    ds.ConvolutionKernel = "STANDARD"
    ds.PatientPosition = "HFS"
    for keyword, value in (patient if patient is not None else FAKE_PATIENT).items():
        setattr(ds, keyword, value)
    return ds


def write_enhanced(
    path: Path,
    values: np.ndarray,
    *,
    spacing: tuple[float, float, float] = (0.8, 0.8, 2.0),
    origin: Sequence[float] = (-100.0, -120.0, 40.0),
    frame_order: Sequence[int] | None = None,
    slopes: Sequence[float] | None = None,
    intercept: float = -1024.0,
    positions: np.ndarray | None = None,
) -> Path:
    """An Enhanced CT object: frame i holds slice frame_order[i] (default: all slices in
    order), with per-frame plane positions and per-frame rescale slopes."""
    n, rows, cols = values.shape
    order = list(range(n)) if frame_order is None else list(frame_order)
    slopes = [1.0] * n if slopes is None else list(slopes)
    if positions is None:
        positions = np.asarray(origin, dtype=np.float64) + np.outer(
            np.arange(n) * spacing[2], [0.0, 0.0, 1.0]
        )
    sop_uid = generate_uid()
    ds = _base_dataset("CT", sop_uid, ExplicitVRLittleEndian, None)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesNumber, ds.InstanceNumber = 5, 1
    ds.NumberOfFrames = len(order)
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    shared = Dataset()
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures = Dataset()
    measures.PixelSpacing = [spacing[1], spacing[0]]
    measures.SliceThickness = spacing[2]
    shared.PlaneOrientationSequence = [orientation]
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    frames, stored = [], []
    for k in order:
        item = Dataset()
        position = Dataset()
        position.ImagePositionPatient = [float(v) for v in positions[k]]
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept = slopes[k], intercept
        transform.RescaleType = "HU"
        item.PlanePositionSequence = [position]
        item.PixelValueTransformationSequence = [transform]
        frames.append(item)
        stored.append(np.rint((values[k].astype(np.float64) - intercept) / slopes[k]))
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.PixelData = np.stack(stored).astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return Path(path)


def write_cine(
    path: Path,
    frames: np.ndarray,
    *,
    frame_timing: dict | None = None,
    photometric: str = "MONOCHROME2",
    modality: str = "US",
) -> Path:
    """An uncompressed multi-frame clip (t, y, x) greyscale or (t, y, x, 3) RGB."""
    sop_uid = generate_uid()
    ds = _base_dataset(modality, sop_uid, ExplicitVRLittleEndian, None)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.NumberOfFrames = frames.shape[0]
    ds.Rows, ds.Columns = frames.shape[1:3]
    colour = frames.ndim == 4
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = "RGB" if colour else photometric
    bits = frames.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    for keyword, value in (frame_timing or {"FrameTime": "33.3"}).items():
        setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return Path(path)
