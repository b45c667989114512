"""Accepted cases for round tests: an image with a blob, a target and its accepted mask; and
migrating the test database to a point for migration tests."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from annotator.annotations.masks import summarize
from annotator.annotations.models import Review
from annotator.annotations.services import store_revision
from annotator.cases.models import CaseStatus
from tests import factories


def blob_case(
    project,
    annotator,
    reviewer,
    *,
    seed: int,
    shape=(10, 48, 48),
    status=CaseStatus.ACCEPTED,
    kind: str | None = None,
):
    """A case whose image holds a bright ellipsoid; its target's accepted mask is the blob (a
    case of another ``status`` has the target and no mask). ``kind``: the image's ("volume",
    "video"; default the project's)."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    zz, yy, xx = np.mgrid[:nz, :ny, :nx]
    cz, cy, cx = nz // 2, rng.integers(16, ny - 16), rng.integers(16, nx - 16)
    blob = ((zz - cz) / 3.0) ** 2 + ((yy - cy) / 7.0) ** 2 + ((xx - cx) / 8.0) ** 2 <= 1
    image = (rng.normal(40, 10, shape) + 120 * blob).astype(np.int16)
    case = factories.case(project, array=image, assignee=annotator, status=status, kind=kind)
    ys, xs = np.nonzero(blob[cz])
    target = factories.target(
        case, key_index=cz, box=[float(xs.min()), float(ys.min()), xs.max() + 1.0, ys.max() + 1.0]
    )
    if status != CaseStatus.ACCEPTED:
        return case, target, blob
    revision = store_revision(
        target, summarize(blob.astype(np.uint8)), parent_id=None, source="human", author=annotator
    ).revision
    Review.objects.create(target=target, revision=revision, reviewer=reviewer, decision="accept")
    return case, target, blob


def snapshot_export(client, project, round_, fmt: str) -> zipfile.ZipFile:
    """A round snapshot's export in ``fmt``, made through the API and downloaded."""
    response = client.post(
        "/api/v1/exports/",
        {"project": project.pk, "scope": "snapshot", "training_round": round_.pk, "format": fmt},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = b"".join(client.get(response.json()["download"]).streaming_content)
    return zipfile.ZipFile(io.BytesIO(body))


def migrate(targets: list[tuple[str, str]]):
    """Migrate the test database to ``targets``; the historical apps there."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
