import pytest

from annotator.annotations import services, workflow
from annotator.annotations.models import Assignment, Review
from annotator.cases import selectors
from annotator.cases.models import CaseStatus
from annotator.core.errors import Conflict, InvalidInput, NotAllowed
from tests import factories


def save(case, target, user, parent=None):
    data = factories.mask_nifti(case, factories.mask_for(case))
    return services.save_human_revision(target, actor=user, data=data, parent_id=parent).revision


@pytest.fixture
def submitted(project, people):
    case = factories.case(project, assignee=people["annotator"])
    targets = [factories.target(case), factories.target(case, label="cyst")]
    for t in targets:
        save(case, t, people["annotator"])
    workflow.submit(case, actor=people["annotator"])
    return case, targets


def test_submit_needs_a_mask_for_every_target(project, people):
    case = factories.case(project, assignee=people["annotator"], status=CaseStatus.IN_PROGRESS)
    with pytest.raises(Conflict, match="no targets"):
        workflow.submit(case, actor=people["annotator"])
    t1, t2 = factories.target(case), factories.target(case)
    save(case, t1, people["annotator"])
    with pytest.raises(Conflict, match=str(t2.pk)):
        workflow.submit(case, actor=people["annotator"])
    save(case, t2, people["annotator"])
    with pytest.raises(NotAllowed):
        workflow.submit(case, actor=people["annotator2"])
    assert workflow.submit(case, actor=people["annotator"]).status == CaseStatus.SUBMITTED


def test_accepting_every_target_accepts_the_case(submitted, people):
    case, (t1, t2) = submitted
    workflow.review_target(t1, actor=people["reviewer"], decision="accept")
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED  # one target still waits
    workflow.review_target(t2, actor=people["reviewer"], decision="accept")
    case.refresh_from_db()
    assert case.status == CaseStatus.ACCEPTED and case.closed_at is not None


def test_one_rejection_sends_the_case_back_with_the_comment(submitted, people):
    case, (t1, t2) = submitted
    workflow.review_target(t1, actor=people["reviewer"], decision="accept")
    workflow.review_target(t2, actor=people["reviewer"], decision="reject", comment="missed a lobe")
    case.refresh_from_db()
    assert case.status == CaseStatus.REJECTED
    queue = list(selectors.my_queue(people["annotator"]))
    assert queue[0] == case  # rework comes first
    assert t2.reviews.first().comment == "missed a lobe"
    # The annotator fixes it; the next review is about the new revision only.
    save(case, t2, people["annotator"], parent=t2.revisions.last().pk)
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    workflow.submit(case, actor=people["annotator"])
    case = workflow.review_case(case, actor=people["reviewer"], decision="accept")
    assert case.status == CaseStatus.ACCEPTED
    assert Review.objects.filter(target=t1).count() == 1  # t1's accepted mask was not re-reviewed


def test_resubmitting_an_unchanged_rejected_target_is_refused(submitted, people):
    case, (t1, t2) = submitted
    workflow.review_target(t1, actor=people["reviewer"], decision="accept")
    workflow.review_target(t2, actor=people["reviewer"], decision="reject", comment="missed a lobe")
    case.refresh_from_db()
    workflow.start(case, actor=people["annotator"])
    with pytest.raises(Conflict, match="missed a lobe") as refused:
        workflow.submit(case, actor=people["annotator"])
    assert refused.value.code == "rejected_unchanged" and t2.label in str(refused.value)
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS  # nothing changed; the annotator can correct it
    save(case, t2, people["annotator"], parent=t2.head_id)
    assert workflow.submit(case, actor=people["annotator"]).status == CaseStatus.SUBMITTED
    case = workflow.review_case(case, actor=people["reviewer"], decision="accept")
    assert case.status == CaseStatus.ACCEPTED


def test_resubmitting_a_reopened_case_without_a_change_is_refused(submitted, people):
    case, _ = submitted
    case = workflow.review_case(case, actor=people["reviewer"], decision="accept")
    assert case.status == CaseStatus.ACCEPTED
    workflow.reopen(case, actor=people["manager"])
    case.refresh_from_db()
    with pytest.raises(Conflict) as refused:
        workflow.submit(case, actor=people["annotator"])
    assert refused.value.code == "nothing_to_review"


def test_a_case_stuck_in_review_with_every_verdict_given_is_closed(submitted, people):
    """Cases submitted unchanged before the check existed: reviewing closes them on their
    verdicts instead of answering with nothing changed."""
    case, (t1, t2) = submitted
    workflow.review_target(t1, actor=people["reviewer"], decision="accept")
    workflow.review_target(t2, actor=people["reviewer"], decision="reject", comment="missed a lobe")
    type(case).objects.filter(pk=case.pk).update(status=CaseStatus.SUBMITTED)  # the old deadlock
    case.refresh_from_db()
    case = workflow.review_case(case, actor=people["reviewer"], decision="accept")
    assert case.status == CaseStatus.REJECTED
    assert Review.objects.filter(target__case=case).count() == 2  # no verdict was invented


def test_review_rules(submitted, people, project):
    case, (t1, _) = submitted
    with pytest.raises(InvalidInput, match="comment"):
        workflow.review_target(t1, actor=people["reviewer"], decision="reject")
    with pytest.raises(NotAllowed):
        workflow.review_target(t1, actor=people["annotator2"], decision="accept")
    # Four eyes: a reviewer who is also the case's annotator cannot review it.
    factories.Membership.objects.create(project=project, user=people["annotator"], role="reviewer")
    both = type(people["annotator"]).objects.get(pk=people["annotator"].pk)  # fresh role cache
    with pytest.raises(NotAllowed, match="another reviewer"):
        workflow.review_target(t1, actor=both, decision="accept")
    other = factories.case(project, assignee=people["annotator2"], status=CaseStatus.IN_PROGRESS)
    with pytest.raises(Conflict, match="not submitted"):
        workflow.review_case(other, actor=people["reviewer"], decision="accept")


def test_assign_and_reassign(project, people):
    case = factories.case(project)
    workflow.assign(case, people["annotator"], actor=people["manager"])
    workflow.assign(case, people["annotator2"], actor=people["manager"])
    assert Assignment.objects.filter(case=case, active=True).get().annotator == people["annotator2"]
    assert Assignment.objects.filter(case=case).count() == 2
    with pytest.raises(NotAllowed):
        workflow.assign(case, people["annotator"], actor=people["annotator"])
    with pytest.raises(InvalidInput, match="not an annotator"):
        workflow.assign(case, people["reviewer"], actor=people["manager"])


def test_queue_order_and_claiming(project, people):
    a = people["annotator"]
    ready = factories.case(project, assignee=a, status=CaseStatus.READY)
    open_ = factories.case(project, assignee=a, status=CaseStatus.IN_PROGRESS)
    rejected = factories.case(project, assignee=a, status=CaseStatus.REJECTED)
    factories.case(project, assignee=a, status=CaseStatus.SUBMITTED)
    assert list(selectors.my_queue(a)) == [rejected, open_, ready]
    free = factories.case(project, status=CaseStatus.READY)
    assert list(selectors.unclaimed_cases(a)) == [free]
    assert workflow.claim(free, a) is not None
    assert workflow.claim(free, people["annotator2"]) is None  # already taken
    assert list(selectors.unclaimed_cases(people["annotator2"])) == []
