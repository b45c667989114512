"""QIDO-RS series search for managers: what they need to choose series, nothing else.

Only the attributes in SHOWN leave this module (no patient name, ID or birth date, no
accession number, no referring physician), and nothing is stored: the answer goes to the
manager and is forgotten.
"""

from __future__ import annotations

import re

from annotator.core.errors import InvalidInput
from annotator.projects import policy
from annotator.projects.models import Project

from . import selectors
from .client import Client, first

# (tag, key in the answer)
SHOWN = (
    ("0020000D", "study_uid"),
    ("0020000E", "series_uid"),
    ("00080060", "modality"),
    ("00080020", "study_date"),
    ("00180015", "body_part"),
    ("0008103E", "series_description"),
    ("00200011", "series_number"),
    ("00201209", "instances"),
)
INCLUDE = ("00080020", "00180015", "0008103E", "00200011", "00201209")  # one parameter each
_DATE = re.compile(r"\d{8}|\d{8}-|-\d{8}|\d{8}-\d{8}")
LIMIT = 200


def _date_range(value: str) -> str:
    """DICOM's YYYYMMDD[-YYYYMMDD] (either end open), or ISO dates joined by '/'."""
    value = value.strip()
    if "/" in value or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        parts = [p.strip().replace("-", "") for p in value.split("/")]
        value = "-".join(parts) if len(parts) == 2 else parts[0]
    if not _DATE.fullmatch(value):
        raise InvalidInput(
            "study_date must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD (either end may be "
            "left open; ISO dates joined by / also work)"
        )
    return value


def qido_params(filters: dict) -> list[tuple[str, str]]:
    params = {"limit": str(LIMIT)}
    if filters.get("modality"):
        params["Modality"] = str(filters["modality"]).upper()[:16]
    if filters.get("study_date"):
        params["StudyDate"] = _date_range(str(filters["study_date"]))
    if filters.get("body_part"):
        params["BodyPartExamined"] = str(filters["body_part"]).upper()[:16]
    if filters.get("study_uid"):
        params["StudyInstanceUID"] = str(filters["study_uid"])[:64]
    return [*params.items(), *(("includefield", tag) for tag in INCLUDE)]


def _count(value, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a whole number") from None


def search_series(actor, project: Project, server_name: str, filters: dict) -> list[dict]:
    policy.require(actor, "dicomweb.use", project)
    link = selectors.link(project, server_name, purpose="import")
    low = _count(filters.get("min_instances"), "min_instances")
    high = _count(filters.get("max_instances"), "max_instances")
    # Matched here, case-insensitive, as a substring: PACS differ in wildcard support.
    text = str(filters.get("series_description") or "").strip().lower()[:64]
    with Client(link.server) as client:
        found = client.search_series(qido_params(filters))
    rows = []
    for item in found:
        row = {key: first(item, tag) for tag, key in SHOWN}
        n = row["instances"]
        row["instances"] = int(n) if n not in (None, "") else None
        if row["series_number"] not in (None, ""):
            row["series_number"] = int(row["series_number"])
        if low is not None and (row["instances"] or 0) < low:
            continue
        if high is not None and row["instances"] is not None and row["instances"] > high:
            continue
        if text and text not in (row["series_description"] or "").lower():
            continue
        rows.append(row)
    rows.sort(key=lambda r: (r["study_date"] or "", r["study_uid"] or "", r["series_number"] or 0))
    return rows
