"""De-identification: what we keep from a DICOM header, what we drop, and pseudonyms.

The import never copies a header as a whole. An ImageVolume gets pixel data, geometry, the UIDs
in DicomReference, and the technical attributes in TECHNICAL_ATTRIBUTES (a whitelist). Every
other attribute — in particular the direct identifiers in REMOVED_ATTRIBUTES and all private
tags — is dropped. Burned-in text in the pixels (common in ultrasound) is out of scope: the
header flag BurnedInAnnotation is kept in the metadata so the caller can warn about it.
"""

from __future__ import annotations

import hashlib
import hmac
import math

# Direct identifiers and free-text fields that may carry them (after DICOM PS3.15 Annex E, Basic
# Application Level Confidentiality Profile). None of them is read into an ImageVolume.
REMOVED_ATTRIBUTES: tuple[str, ...] = (
    # patient
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientTelecomInformation",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientInsurancePlanCodeSequence",
    "MedicalRecordLocator",
    "MilitaryRank",
    "BranchOfService",
    "CountryOfResidence",
    "RegionOfResidence",
    "EthnicGroup",
    "Occupation",
    "PatientReligiousPreference",
    "PatientComments",
    "AdditionalPatientHistory",
    "ResponsiblePerson",
    "PatientAge",
    "PatientSex",
    "PatientSize",
    "PatientWeight",
    # visit and request
    "AccessionNumber",
    "StudyID",
    "AdmissionID",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyTime",
    "SeriesTime",
    "AcquisitionTime",
    "ContentTime",
    "AcquisitionDateTime",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "RequestedProcedureDescription",
    "PerformedProcedureStepID",
    "PerformedProcedureStepDescription",
    "ScheduledProcedureStepID",
    "RequestAttributesSequence",
    "AdmittingDiagnosesDescription",
    "ImageComments",
    # people and places
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "PhysiciansOfRecord",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "RequestingPhysician",
    "OperatorsName",
    # device identity
    "StationName",
    "DeviceSerialNumber",
    "DeviceUID",
    "DetectorID",
    "PlateID",
    "GantryID",
    "CassetteID",
    "SoftwareVersions",
    # embedded or related documents
    "ReferencedPatientSequence",
    "ReferencedStudySequence",
)

# Technical attributes copied into ImageVolume.metadata (from the first slice/the object).
# Manufacturer and model are kept on purpose: they are not identifiers (PS3.15 retains them) and
# they explain model quality per scanner.
TECHNICAL_ATTRIBUTES: tuple[str, ...] = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "BodyPartExamined",
    "ImageType",
    "PhotometricInterpretation",
    "BitsStored",
    "PixelRepresentation",
    "BurnedInAnnotation",
    "LossyImageCompression",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ReconstructionDiameter",
    "ConvolutionKernel",
    "KVP",
    "XRayTubeCurrent",
    "ExposureTime",
    "Exposure",
    "RescaleType",
    "MagneticFieldStrength",
    "MRAcquisitionType",
    "ScanningSequence",
    "SequenceVariant",
    "RepetitionTime",
    "EchoTime",
    "InversionTime",
    "FlipAngle",
    "EchoTrainLength",
    "PixelBandwidth",
    "ImagingFrequency",
    "Units",
    "DecayCorrection",
    "CorrectedImage",
    "TransducerType",
    "HeartRate",
)

_MAX_TEXT = 64


def technical_metadata(ds) -> dict:
    """Whitelisted technical attributes of a pydicom Dataset as JSON-safe values."""
    out: dict = {}
    for keyword in TECHNICAL_ATTRIBUTES:
        element = ds.get(keyword)
        if element is None or element == "":
            continue
        value = _json_value(element)
        if value is not None:
            out[keyword] = value
    return out


def _json_value(value):
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        items = [_json_value(v) for v in value]
        return [v for v in items if v is not None] or None
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            return None
        return int(value) if isinstance(value, int) else number
    try:  # pydicom DSfloat/IS are int/float subclasses; anything else becomes short text
        text = str(value).strip()
    except Exception:
        return None
    return text[:_MAX_TEXT] or None


def pseudonym(fingerprint: str, key: bytes) -> str:
    """Stable pseudonymous study id, e.g. "ST-3F9A0C11B2": HMAC-SHA256 of the fingerprint under a
    secret key, so the id reveals nothing without the key and is the same on re-import."""
    if not key:
        raise ValueError("pseudonym key must not be empty")
    digest = hmac.new(key, fingerprint.encode("utf-8"), hashlib.sha256).hexdigest()
    return "ST-" + digest[:10].upper()
