"""Hostile mask uploads: a header that declares a huge volume is refused before its data is
read or allocated, and whoever may not edit is refused before the upload is read."""

import numpy as np
import pytest

from annotator.annotations import masks
from annotator.cases.selectors import image_header
from annotator.core.errors import InvalidInput, PayloadTooLarge
from tests import factories
from tests.hostile import header_bomb_nifti, peak_allocated

MiB = 1024 * 1024


@pytest.fixture
def ctx(project, people, client_for):
    case = factories.case(project, assignee=people["annotator"])
    return case, factories.target(case), client_for


def _decode(case, data):
    _, affine, _ = image_header(case.image)
    return masks.decode_upload(
        data,
        image_shape_xyz=tuple(case.image.shape),
        image_affine=affine,
        max_bytes=512 * MiB,
    )


def test_tiny_mask_declaring_a_huge_volume_is_refused_before_allocating(ctx):
    case, _, _ = ctx
    bomb = header_bomb_nifti(shape=(1024, 1024, 1024), dtype=np.uint8, compressed=True)
    assert len(bomb) < 100
    peak, outcome = peak_allocated(lambda: _decode(case, bomb))
    assert peak < 8 * MiB, f"{peak / MiB:.0f} MiB allocated for a {len(bomb)}-byte mask"
    assert isinstance(outcome, InvalidInput) and "shape" in outcome.message


def test_mask_in_the_image_grid_without_its_data_is_refused(ctx):
    case, _, _ = ctx
    _, affine, shape = image_header(case.image)
    bomb = header_bomb_nifti(shape=shape, dtype=np.float64, affine=affine, compressed=True)
    with pytest.raises(InvalidInput, match="truncated"):
        _decode(case, bomb)


def test_memory_error_while_decoding_a_mask_is_413(ctx, monkeypatch):
    case, _, _ = ctx

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(masks, "summarize", exhausted)
    with pytest.raises(PayloadTooLarge):
        _decode(case, factories.mask_nifti(case, factories.mask_for(case)))


def test_who_may_not_edit_is_refused_before_the_upload_is_read(ctx, people):
    case, target, client_for = ctx
    url = f"/api/v1/targets/{target.pk}/revisions/"
    # The reviewer sees the target but may not edit it: 403, not a complaint about the body.
    response = client_for(people["reviewer"]).post(url, {}, format="multipart")
    assert response.status_code == 403, response.content
    assert client_for(people["annotator"]).post(url, {}, format="multipart").status_code == 400


def test_mask_upload_over_the_limit_is_413_before_reading(ctx, people, settings):
    case, target, client_for = ctx
    settings.MASK_MAX_UPLOAD_BYTES = 1024
    response = client_for(people["annotator"]).post(
        f"/api/v1/targets/{target.pk}/revisions/",
        data=b"x" * (2 * MiB),
        content_type="multipart/form-data; boundary=zz",
    )
    assert response.status_code == 413 and response.json()["code"] == "too_large"
