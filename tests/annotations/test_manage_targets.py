"""Managing targets (issue #16 item 4): rename, relabel, the note to the reviewer, soft delete,
and rev n counted within each target."""

import importlib

import pytest
from django.apps import apps

from annotator.annotations import services, workflow
from annotator.annotations.models import MaskRevision, Target
from annotator.audit.models import AuditEvent
from annotator.cases.models import CaseStatus
from annotator.core.errors import Conflict, InvalidInput
from tests import factories


def save(case, target, user, parent=None):
    data = factories.mask_nifti(case, factories.mask_for(case))
    return services.save_human_revision(target, actor=user, data=data, parent_id=parent).revision


@pytest.fixture
def case(project, people):
    return factories.case(project, assignee=people["annotator"], status=CaseStatus.IN_PROGRESS)


def test_revisions_are_numbered_within_their_target(case, people, client_for):
    a, b = factories.target(case), factories.target(case)
    r1 = save(case, a, people["annotator"])
    save(case, b, people["annotator"])
    r2 = save(case, a, people["annotator"], parent=r1.pk)
    assert (r1.number, r2.number) == (1, 2)
    assert MaskRevision.objects.get(target=b).number == 1
    api = client_for(people["annotator"])
    assert [r["number"] for r in api.get(f"/api/v1/targets/{a.pk}/revisions/").data["results"]
            ] == [1, 2]  # fmt: skip
    assert api.get(f"/api/v1/targets/{a.pk}/").data["head_number"] == 2
    assert api.get(f"/api/v1/targets/{b.pk}/").data["head_number"] == 1


def test_the_migration_numbers_existing_revisions_in_their_order(case, people):
    a, b = factories.target(case), factories.target(case)
    r1 = save(case, a, people["annotator"])
    rb = save(case, b, people["annotator"])
    r2 = save(case, a, people["annotator"], parent=r1.pk)
    MaskRevision.objects.update(number=None)
    migration = importlib.import_module(
        "annotator.annotations.migrations.0006_target_name_note_delete_revision_number"
    )
    migration.number_revisions(apps, None)
    numbers = dict(MaskRevision.objects.values_list("pk", "number"))
    assert numbers == {r1.pk: 1, r2.pk: 2, rb.pk: 1}


def test_rename_relabel_and_note_are_audited(case, people, client_for):
    t = factories.target(case)
    api = client_for(people["annotator"])
    body = api.get(f"/api/v1/targets/{t.pk}/").data
    assert (body["name"], body["display_name"]) == ("", "lesion #1")
    r = api.patch(f"/api/v1/targets/{t.pk}/", {"label": "cyst", "name": "  segment  VII ",
                                               "note": "check slice 4"}, format="json")  # fmt: skip
    assert r.status_code == 200, r.data
    assert (r.data["label"], r.data["name"], r.data["display_name"], r.data["note"]) == (
        "cyst", "segment VII", "segment VII", "check slice 4")  # fmt: skip
    assert r.data["color"] == "#00ff00"
    event = AuditEvent.objects.get(action="target.change")
    assert event.data["changes"]["label"] == {"from": "lesion", "to": "cyst"}
    with pytest.raises(InvalidInput, match="unknown label"):
        services.change_target(t, actor=people["annotator"], label="spleen")
    # a prompt without its key_index is refused rather than half-applied
    r = api.patch(f"/api/v1/targets/{t.pk}/", {"box": [1, 1, 4, 4]}, format="json")
    assert r.status_code == 400


def test_a_deleted_target_leaves_the_api_and_keeps_its_history(case, people, client_for):
    keep, gone = factories.target(case), factories.target(case)
    r1 = save(case, gone, people["annotator"])
    save(case, gone, people["annotator"], parent=r1.pk)
    save(case, keep, people["annotator"])
    api = client_for(people["annotator"])
    assert api.delete(f"/api/v1/targets/{gone.pk}/").status_code == 204
    listed = api.get(f"/api/v1/cases/{case.pk}/targets/").data
    assert [t["id"] for t in listed] == [keep.pk]
    assert api.get(f"/api/v1/cases/{case.pk}/").data["target_count"] == 1
    for url in (f"/api/v1/targets/{gone.pk}/", f"/api/v1/targets/{gone.pk}/revisions/",
                f"/api/v1/targets/{gone.pk}/mask"):  # fmt: skip
        assert api.get(url).status_code == 404, url
    # kept: the row, its revisions, and the audit trail (with the revision count)
    assert Target.all_objects.get(pk=gone.pk).deleted_by == people["annotator"]
    assert MaskRevision.objects.filter(target_id=gone.pk).count() == 2
    event = AuditEvent.objects.get(action="target.delete")
    assert event.data["revisions"] == 2 and event.object_id == str(gone.pk)
    assert AuditEvent.objects.filter(action="target.create").count() == 0  # factories skip it
    assert AuditEvent.objects.filter(action="revision.create", data__target=gone.pk).count() == 2
    # submit and review see the live target only
    workflow.submit(case, actor=people["annotator"])
    reviewed = workflow.review_case(case, actor=people["reviewer"], decision="accept")
    assert reviewed.status == CaseStatus.ACCEPTED
    assert not Target.all_objects.get(pk=gone.pk).reviews.exists()


def test_deleting_the_only_unsaved_target_lets_the_case_be_submitted(case, people):
    keep, empty = factories.target(case), factories.target(case)
    save(case, keep, people["annotator"])
    with pytest.raises(Conflict, match="every target needs a mask"):
        workflow.submit(case, actor=people["annotator"])
    services.delete_target(empty, actor=people["annotator"])
    assert workflow.submit(case, actor=people["annotator"]).status == CaseStatus.SUBMITTED


def test_targets_of_a_case_in_review_cannot_be_changed(case, people):
    t = factories.target(case)
    save(case, t, people["annotator"])
    workflow.submit(case, actor=people["annotator"])
    with pytest.raises(Conflict, match="cannot be deleted"):
        services.delete_target(t, actor=people["manager"])
    with pytest.raises(Conflict, match="cannot be changed"):
        services.change_target(t, actor=people["annotator"], note="late note")
    # rejected: back in the annotator's hands, so targets may change again
    workflow.review_case(case, actor=people["reviewer"], decision="reject", comment="not a lesion")
    services.delete_target(Target.objects.get(pk=t.pk), actor=people["annotator"])
    assert not Target.objects.filter(pk=t.pk).exists()


def test_the_note_reaches_the_reviewer(case, people, client_for):
    t = factories.target(case)
    services.change_target(t, actor=people["annotator"], note="faint margin, slices 3-5")
    save(case, t, people["annotator"])
    workflow.submit(case, actor=people["annotator"])
    body = client_for(people["reviewer"]).get(f"/api/v1/cases/{case.pk}/targets/").data
    assert body[0]["note"] == "faint margin, slices 3-5"
