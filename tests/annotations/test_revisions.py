import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from annotator.annotations import masks, services
from annotator.annotations.models import MaskRevision, Target
from annotator.cases.models import CaseStatus
from annotator.core.errors import Conflict, InvalidInput, NotAllowed, StaleParent
from tests import factories


@pytest.fixture
def setup(project, people):
    case = factories.case(project, assignee=people["annotator"])
    return case, factories.target(case), people["annotator"]


def stored_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT) / "masks"
    return {str(p) for p in root.rglob("*")} if root.exists() else set()


def test_first_and_second_revision_chain(setup):
    case, target, user = setup
    m1 = factories.mask_for(case)
    r1 = services.save_human_revision(
        target, actor=user, data=factories.mask_nifti(case, m1), parent_id=None, active_seconds=12.5
    ).revision
    assert r1.parent_id is None and r1.voxel_count == int(m1.sum())
    assert r1.author == user and r1.source == "human" and r1.active_seconds == 12.5
    m2 = m1.copy()
    m2[0, 0, 0] = 1
    r2 = services.save_human_revision(
        target, actor=user, data=factories.mask_nifti(case, m2), parent_id=r1.pk
    ).revision
    target.refresh_from_db()
    assert target.head_id == r2.pk and r2.parent_id == r1.pk
    assert r2.voxel_count == r1.voxel_count + 1
    # Stored files read back exactly, in the image's geometry.
    for rev, expected in ((r1, m1), (r2, m2)):
        with default_storage.open(rev.file.name) as fh:
            assert np.array_equal(masks.decode_stored(fh.read()), expected)
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS and case.first_opened_at is not None


def test_stale_parent_is_refused_and_leaves_no_file(setup):
    case, target, user = setup
    m = factories.mask_for(case)
    r1 = services.save_human_revision(
        target, actor=user, data=factories.mask_nifti(case, m), parent_id=None
    ).revision
    services.save_human_revision(
        target, actor=user, data=factories.mask_nifti(case, m), parent_id=r1.pk
    )
    before = stored_files()
    with pytest.raises(StaleParent) as err:
        services.save_human_revision(
            target, actor=user, data=factories.mask_nifti(case, m), parent_id=r1.pk
        )
    assert err.value.extra["current_revision"] == Target.objects.get(pk=target.pk).head_id
    with pytest.raises(StaleParent):  # naming no parent when one exists is stale too
        services.save_human_revision(
            target, actor=user, data=factories.mask_nifti(case, m), parent_id=None
        )
    assert stored_files() == before
    assert MaskRevision.objects.filter(target=target).count() == 2


def test_idempotency_key_stores_a_retry_once(setup):
    case, target, user = setup
    data = factories.mask_nifti(case, factories.mask_for(case))
    first = services.save_human_revision(
        target, actor=user, data=data, parent_id=None, idempotency_key="save-1"
    )
    again = services.save_human_revision(
        target, actor=user, data=data, parent_id=None, idempotency_key="save-1"
    )
    assert first.created and not again.created
    assert again.revision.pk == first.revision.pk
    assert MaskRevision.objects.count() == 1
    other = factories.target(case)
    with pytest.raises(Conflict, match="another target"):
        services.save_human_revision(
            other, actor=user, data=data, parent_id=None, idempotency_key="save-1"
        )


def test_revisions_are_immutable(setup):
    case, target, user = setup
    rev = services.save_human_revision(
        target,
        actor=user,
        data=factories.mask_nifti(case, factories.mask_for(case)),
        parent_id=None,
    ).revision
    rev.note = "changed"
    with pytest.raises(ValueError, match="immutable"):
        rev.save()


def test_raw_masks_with_shape_and_gzip(setup):
    case, target, user = setup
    m = factories.mask_for(case)
    nx, ny, nz = case.image.shape
    r1 = services.save_human_revision(
        target, actor=user, data=m.tobytes(), parent_id=None, raw_shape=(nx, ny, nz)
    ).revision
    assert r1.voxel_count == int(m.sum())
    r2 = services.save_human_revision(
        target,
        actor=user,
        data=gzip.compress((m * 7).tobytes()),
        parent_id=r1.pk,
        raw_shape=(nx, ny, nz),
    ).revision
    assert r2.checksum == r1.checksum  # non-zero values all mean "inside"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda c, m: b"", "empty"),
        (lambda c, m: b"this is not a mask at all", "neither NIfTI nor raw"),
        (lambda c, m: factories.nifti_bytes(m[:-1]), "does not match the image shape"),
        (lambda c, m: factories.nifti_bytes(m, spacing=(1.0, 1.0, 1.0)), "geometry"),
        (lambda c, m: gzip.compress(factories.nifti_bytes(m))[:-20], "gzip|truncated"),
        (lambda c, m: factories.mask_nifti(c, m)[:60], "gzip|truncated"),
    ],
    ids=["empty", "garbage", "wrong-shape", "wrong-affine", "truncated-gzip", "cut-short"],
)
def test_bad_mask_uploads_are_refused_cleanly(setup, make, message):
    case, target, user = setup
    with pytest.raises(InvalidInput, match=message):
        services.save_human_revision(
            target, actor=user, data=make(case, factories.mask_for(case)), parent_id=None
        )
    assert MaskRevision.objects.count() == 0 and stored_files() == set()
    case.refresh_from_db()
    assert case.status == CaseStatus.READY


def test_raw_mask_with_wrong_size_or_shape(setup):
    case, target, user = setup
    nx, ny, nz = case.image.shape
    with pytest.raises(InvalidInput, match="bytes"):
        services.save_human_revision(
            target, actor=user, data=b"\x00" * 10, parent_id=None, raw_shape=(nx, ny, nz)
        )
    with pytest.raises(InvalidInput, match="shape"):
        services.save_human_revision(
            target,
            actor=user,
            data=b"\x00" * (nx * ny * nz),
            parent_id=None,
            raw_shape=(nz, ny, nx),
        )


def test_only_the_assignee_edits_and_only_while_editable(setup, people):
    case, target, user = setup
    data = factories.mask_nifti(case, factories.mask_for(case))
    for other in (people["annotator2"], people["reviewer"], people["manager"]):
        with pytest.raises(NotAllowed):
            services.save_human_revision(target, actor=other, data=data, parent_id=None)
    case.status = CaseStatus.SUBMITTED
    case.save()
    with pytest.raises(Conflict, match="can no longer be edited"):
        services.save_human_revision(target, actor=user, data=data, parent_id=None)


def test_failed_database_commit_removes_the_new_file(setup, monkeypatch):
    case, target, user = setup
    data = factories.mask_nifti(case, factories.mask_for(case))
    r1 = services.save_human_revision(target, actor=user, data=data, parent_id=None).revision
    before = stored_files()

    def boom(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "record", boom)
    with pytest.raises(RuntimeError):
        services.save_human_revision(target, actor=user, data=data, parent_id=r1.pk)
    assert stored_files() == before
    target.refresh_from_db()
    assert target.head_id == r1.pk
    with default_storage.open(r1.file.name) as fh:  # the previous revision is intact
        assert masks.decode_stored(fh.read()).sum() == r1.voxel_count


def test_write_error_in_the_store_leaves_the_previous_revision(setup, monkeypatch):
    case, target, user = setup
    data = factories.mask_nifti(case, factories.mask_for(case))
    r1 = services.save_human_revision(target, actor=user, data=data, parent_id=None).revision

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        services.save_human_revision(target, actor=user, data=data, parent_id=r1.pk)
    monkeypatch.undo()
    target.refresh_from_db()
    assert target.head_id == r1.pk and MaskRevision.objects.count() == 1
    leftovers = [p for p in stored_files() if ".tmp-" in p]
    assert leftovers == []
