"""Export tests' helpers: accepted targets to export, an export made through the service, its
zip read back."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.storage import default_storage

from annotator.metrics.exports import service
from tests import factories
from tests.metrics.conftest import human_save, model_save, model_version, review, start, submit


def accept_targets(project, people, case, masks, *, version=None, labels=None):
    """Targets with these masks, pre-segmented by `version` (if given), accepted."""
    case.assignments.create(annotator=people["annotator"], active=True)
    targets = []
    for i, mask in enumerate(masks):
        t = factories.target(case, label=(labels or ["lesion", "cyst"])[i % 2])
        if version is not None:
            model_save(t, mask, version)
        else:
            human_save(t, people["annotator"], mask, active_seconds=10)
        targets.append(t)
    start(case, people["annotator"])
    submit(case, people["annotator"])
    for t in targets:
        review(t, people["reviewer"], "accept")
    return targets


def export(people, project, fmt, scope="case", **kw):
    result = service.request_export(
        actor=people["manager"], project=project, scope=scope, fmt=fmt, **kw
    )
    assert result.status == "done", result.message
    return result


def open_zip(export_obj) -> zipfile.ZipFile:
    with default_storage.open(export_obj.file.name, "rb") as fh:
        return zipfile.ZipFile(io.BytesIO(fh.read()))


@pytest.fixture
def version(project):
    return model_version(project, round_number=3, name="medsam2-r3")
