"""De-identification: no direct identifier reaches an ImageVolume or the canonical NIfTI."""

from __future__ import annotations

import gzip
import json
import logging
import warnings
from dataclasses import asdict

import pydicom
import pytest

from annotator.cases.imaging import (
    REMOVED_ATTRIBUTES,
    TECHNICAL_ATTRIBUTES,
    load_sources,
    pseudonym,
    write_canonical_nifti,
)
from annotator.cases.imaging.synthetic import FAKE_PATIENT

from .helpers import data_file

# Values of the fake header that must not survive (birth date also in another format).
SECRETS = [
    *[v for k, v in FAKE_PATIENT.items() if k != "PatientSex"],
    "Testpatient",
    "1961-04-23",
    "CT ABDOMEN Testpatient follow-up",  # free-text StudyDescription mentions the name
    "Saint Nobody",
]


def everything_about(volume, nifti_path) -> str:
    """Every place a header value could leak: repr, fields, metadata, exceptions aside."""
    fields = asdict(volume)
    fields.pop("array")
    fields.pop("source_name")  # the user's own file name; not stored (see ImageVolume)
    text = repr(volume) + json.dumps(fields, default=str) + json.dumps(volume.metadata)
    raw = nifti_path.read_bytes()
    return text + gzip.decompress(raw).decode("latin-1") + raw.decode("latin-1")


def test_generated_series_with_patient_identifiers_leaves_no_trace(
    ct_folder, tmp_path, limits, caplog
):
    assert pydicom.dcmread(next(ct_folder.iterdir())).PatientName == FAKE_PATIENT["PatientName"]
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (volume,) = load_sources([ct_folder], limits)
    out = tmp_path / "image.nii.gz"
    write_canonical_nifti(volume, out)
    haystack = everything_about(volume, out)
    for secret in SECRETS:
        assert secret.lower() not in haystack.lower(), secret
    # Nor in logs or warnings produced while reading.
    emitted = caplog.text + " ".join(str(w.message) for w in caught)
    for secret in SECRETS:
        assert secret.lower() not in emitted.lower(), secret
    # What is kept is technical.
    assert volume.metadata["Manufacturer"] == "Synthetic Scanners"
    assert volume.metadata["KVP"] == 120.0
    assert set(volume.metadata) <= set(TECHNICAL_ATTRIBUTES) | {"TransferSyntax"}


def test_real_enhanced_ct_with_names(tmp_path, limits):
    """eCT_Supplemental.dcm names a patient, physicians, an operator and an institution."""
    ds = pydicom.dcmread(data_file("eCT_Supplemental.dcm"))
    secrets = [
        str(ds.PatientName),
        str(ds.ReferringPhysicianName),
        str(ds.OperatorsName),
        str(ds.PerformingPhysicianName),
        ds.InstitutionName,
        ds.StationName,
        ds.DeviceSerialNumber,
        "Thomas",
        "Molly",
        "19500704",
    ]
    (volume,) = load_sources([data_file("eCT_Supplemental.dcm")], limits)
    out = tmp_path / "image.nii.gz"
    write_canonical_nifti(volume, out)
    haystack = everything_about(volume, out)
    for secret in secrets:
        assert secret.lower() not in haystack.lower(), secret


def test_removed_and_kept_lists_are_disjoint_and_real_keywords():
    assert not set(REMOVED_ATTRIBUTES) & set(TECHNICAL_ATTRIBUTES)
    for keyword in (*REMOVED_ATTRIBUTES, *TECHNICAL_ATTRIBUTES):
        assert pydicom.datadict.tag_for_keyword(keyword) is not None, keyword
    for identifier in ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs",
                       "AccessionNumber", "InstitutionName", "ReferringPhysicianName",
                       "OperatorsName", "PerformingPhysicianName", "StudyID",
                       "DeviceSerialNumber", "PatientAddress"):  # fmt: skip
        assert identifier in REMOVED_ATTRIBUTES


def test_repr_has_no_source_name_or_voxels(ct_folder, limits):
    (volume,) = load_sources([ct_folder], limits)
    text = repr(volume)
    assert "case01" not in text
    assert "shape=(12, 32, 40)" in text and "array(" not in text


def test_pseudonym_is_stable_keyed_and_short():
    first = pseudonym("abc", b"key-1")
    assert first == pseudonym("abc", b"key-1")
    assert first != pseudonym("abc", b"key-2")
    assert first != pseudonym("abd", b"key-1")
    assert first.startswith("ST-") and len(first) == 13
    with pytest.raises(ValueError):
        pseudonym("abc", b"")
