"""Idempotency-Key on mask saves (issue #17, 5): a key repeats one request, is its sender's
own, and a reuse with other content is refused instead of answered with the old revision."""

from __future__ import annotations

import pytest

from annotator.annotations import services
from annotator.annotations.models import MaskRevision, Target
from tests import factories


def post_mask(client, target, mask, parent=None, key="key-1"):
    data = {
        "parent": "" if parent is None else parent,
        "mask": factories.mask_file(factories.mask_nifti(target.case, mask)),
    }
    url = f"/api/v1/targets/{target.pk}/revisions/"
    return client.post(url, data, format="multipart", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def ctx(project, people, client_for):
    case = factories.case(project, assignee=people["annotator"])
    return factories.target(case), client_for(people["annotator"])


def test_a_key_reused_with_another_mask_is_refused(ctx):
    target, client = ctx
    first_mask = factories.mask_for(target.case)
    first = post_mask(client, target, first_mask)
    assert first.status_code == 201
    other_mask = first_mask.copy()
    other_mask[0, 0, 0] = 1 - other_mask[0, 0, 0]
    reused = post_mask(client, target, other_mask)
    assert reused.status_code == 422, reused.data
    assert reused.data["code"] == "idempotency_key_reused"
    assert reused.data["revision"] == first.data["id"]
    assert MaskRevision.objects.count() == 1
    assert Target.objects.get(pk=target.pk).head_id == first.data["id"]
    # The same mask is a retry: answered with the stored revision.
    retry = post_mask(client, target, first_mask)
    assert retry.status_code == 200 and retry.data["id"] == first.data["id"]


def test_a_key_reused_with_another_parent_is_refused(ctx):
    target, client = ctx
    mask = factories.mask_for(target.case)
    r1 = post_mask(client, target, mask, key="a").data["id"]
    assert post_mask(client, target, mask, parent=r1, key="b").status_code == 201
    reused = post_mask(client, target, mask, parent=r1, key="a")  # "a" named no parent
    assert reused.status_code == 422 and "parent" in reused.data["detail"]
    assert MaskRevision.objects.count() == 2


def test_keys_are_scoped_per_user(project, other_project, people, client_for):
    mine = factories.target(factories.case(project, assignee=people["annotator"]))
    theirs = factories.target(factories.case(other_project, assignee=people["outsider"]))
    a = post_mask(client_for(people["annotator"]), mine, factories.mask_for(mine.case))
    b = post_mask(client_for(people["outsider"]), theirs, factories.mask_for(theirs.case))
    assert (a.status_code, b.status_code) == (201, 201), b.data  # the same key, two people
    assert a.data["id"] != b.data["id"]
    assert MaskRevision.objects.filter(idempotency_key="key-1").count() == 2


def test_a_person_cannot_claim_a_model_revision_by_its_key(ctx, tmp_path):
    target, client = ctx
    version = factories.tiny_model_version(tmp_path)
    model_mask = factories.mask_for(target.case)
    stored = services.save_model_revision(
        target,
        model_mask[::-1].copy(),
        model_version=version,
        parent_id=None,
        idempotency_key="presegment-1",
    ).revision
    mine = post_mask(client, target, model_mask, parent=stored.pk, key="presegment-1")
    assert mine.status_code == 201 and mine.data["id"] != stored.pk
    assert mine.data["source"] == "human"


def test_keys_must_fit_and_be_visible_ascii(ctx):
    target, client = ctx
    mask = factories.mask_for(target.case)
    assert post_mask(client, target, mask, key="k" * 101).status_code == 400
    assert post_mask(client, target, mask, key="k" * 100).status_code == 201
