"""The workflow announces reviews and acceptances as domain events (docs/architecture.md)."""

import pytest

from annotator.annotations import events, services, workflow
from annotator.cases.models import CaseStatus
from tests import factories


@pytest.fixture
def heard():
    got: list[tuple[str, dict]] = []

    def on_review(sender, **kwargs):
        got.append(("reviewed", kwargs))

    def on_accept(sender, **kwargs):
        got.append(("accepted", kwargs))

    events.target_reviewed.connect(on_review, dispatch_uid="test.reviewed")
    events.case_accepted.connect(on_accept, dispatch_uid="test.accepted")
    yield got
    events.target_reviewed.disconnect(dispatch_uid="test.reviewed")
    events.case_accepted.disconnect(dispatch_uid="test.accepted")


def test_review_and_acceptance_are_announced(
    db, heard, django_capture_on_commit_callbacks, submitted_case, people
):
    case, target = submitted_case
    with django_capture_on_commit_callbacks(execute=True):
        workflow.review_target(target, actor=people["reviewer"], decision="accept")
    kinds = [kind for kind, _ in heard]
    assert kinds == ["reviewed", "accepted"]
    assert heard[0][1]["target"] == target and heard[0][1]["review"].decision == "accept"
    assert heard[1][1]["case"].pk == case.pk
    assert heard[1][1]["case"].status == CaseStatus.ACCEPTED


def test_a_rejection_is_announced_but_no_acceptance(
    db, heard, django_capture_on_commit_callbacks, submitted_case, people
):
    _, target = submitted_case
    with django_capture_on_commit_callbacks(execute=True):
        workflow.review_target(target, actor=people["reviewer"], decision="reject", comment="x")
    assert [kind for kind, _ in heard] == ["reviewed"]


@pytest.fixture
def submitted_case(project, people):
    case = factories.case(project, assignee=people["annotator"])
    target = factories.target(case)
    data = factories.mask_nifti(case, factories.mask_for(case))
    services.save_human_revision(target, actor=people["annotator"], data=data, parent_id=None)
    workflow.submit(case, actor=people["annotator"])
    target.refresh_from_db()
    return case, target
