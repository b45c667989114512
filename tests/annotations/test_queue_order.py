"""Queues ordered by the model's uncertainty (issue #15 item 3): the score stored with each model
mask, the case's figure (its most doubtful target), and my_queue / unclaimed_cases /
next_case_for under both settings of ``Project.queue_order``, across statuses, with ties."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from annotator.annotations import queues, services, workflow
from annotator.annotations.models import MaskRevision
from annotator.audit.models import AuditEvent
from annotator.cases import selectors
from annotator.cases.models import CaseStatus, Image
from annotator.cases.ordering import DEFAULT_SAMPLE, balanced_order, in_sample, uncertainty_order
from annotator.modelops.models import RoundPolicy
from annotator.projects.models import Modality, QueueOrder
from annotator.projects.services import update_project
from tests import factories

pytestmark = pytest.mark.django_db

_keys = iter(range(10**6))


@dataclass
class S:
    iou: float | None
    object_score: float | None = None


def presegment(case, iou: float | None, *, target=None):
    """A model mask on a (new) target of ``case`` with predicted IoU ``iou`` on its slices
    (None: no scores, so no uncertainty)."""
    target = target or factories.target(case)
    target.refresh_from_db()
    mask = factories.mask_for(case)
    frames = np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))
    scores = None if iou is None else {int(z): S(iou, 8.0) for z in frames}
    services.save_model_revision(
        target,
        mask,
        model_version=None,
        parent_id=target.head_id,
        idempotency_key=f"queue-{next(_keys)}",
        scores=scores,
    )
    return target


def by_uncertainty(project, sample: float = 0.0):
    """Order ``project``'s queue by doubt; with ``sample`` 0 (its rounds hold nothing out), no
    evaluation sample, so the order is the most doubtful first."""
    project.queue_order = QueueOrder.UNCERTAINTY
    project.save()
    RoundPolicy.objects.update_or_create(project=project, defaults={"heldout_fraction": sample})
    return project


def test_model_revisions_store_their_uncertainty_and_a_persons_none(project, people):
    case = factories.case(project, assignee=people["annotator"])
    target = presegment(case, 0.7)
    revision = MaskRevision.objects.get(target=target)
    assert revision.uncertainty == pytest.approx(0.3, abs=0.01)
    empty = factories.target(case)
    services.save_model_revision(
        empty,
        np.zeros_like(factories.mask_for(case)),
        model_version=None,
        parent_id=None,
        idempotency_key="empty-mask",
    )
    assert MaskRevision.objects.get(target=empty).uncertainty == 1.0  # flagged empty
    target.refresh_from_db()
    saved = services.save_human_revision(
        target,
        actor=people["annotator"],
        data=factories.mask_nifti(case, factories.mask_for(case)),
        parent_id=target.head_id,
    )
    assert saved.revision.uncertainty is None


def test_import_order_ignores_the_scores(project, people):
    a = people["annotator"]
    cases = [factories.case(project, assignee=a) for _ in range(3)]
    for case, iou in zip(cases, [0.9, 0.1, 0.5], strict=True):
        presegment(case, iou)
    assert project.queue_order == QueueOrder.IMPORT  # the default
    assert list(selectors.my_queue(a)) == cases


def test_uncertainty_order_within_status_groups_with_ties_and_unscored_last(project, people):
    a = people["annotator"]
    by_uncertainty(project)

    def make(status, iou):
        case = factories.case(project, assignee=a, status=status)
        if iou != "none":
            presegment(case, iou)
        return case

    rework_sure = make(CaseStatus.REJECTED, 0.9)
    rework_doubt = make(CaseStatus.REJECTED, 0.2)
    open_unscored = make(CaseStatus.IN_PROGRESS, "none")
    open_doubt = make(CaseStatus.IN_PROGRESS, 0.4)
    ready_unscored = make(CaseStatus.READY, "none")
    ready_sure = make(CaseStatus.READY, 0.95)
    tie_first = make(CaseStatus.READY, 0.5)
    ready_doubt = make(CaseStatus.READY, 0.1)
    tie_second = make(CaseStatus.READY, 0.5)
    new_case = make(CaseStatus.NEW, "none")
    make(CaseStatus.SUBMITTED, 0.0)  # not in the queue
    assert list(selectors.my_queue(a)) == [
        rework_doubt,
        rework_sure,  # rework stays first, however sure the model is
        open_doubt,
        open_unscored,
        ready_doubt,
        tie_first,  # ties keep import order
        tie_second,
        ready_sure,
        ready_unscored,  # no score: after the scored ones
        new_case,
    ]
    assert workflow.next_case_for(a) == rework_doubt


def test_a_case_counts_its_most_doubtful_targets_latest_model_mask(project, people):
    a = people["annotator"]
    by_uncertainty(project)
    first = factories.case(project, assignee=a)
    second = factories.case(project, assignee=a)
    presegment(first, 0.6)  # 0.4
    presegment(second, 0.9)
    doubtful = presegment(second, 0.2)  # 1 - 0.2 * (1 - 0.25): low_confidence adds its weight
    assert list(selectors.my_queue(a)) == [second, first]
    scores = {c.pk: c.uncertainty for c in selectors.my_queue(a)}
    assert scores[second.pk] == pytest.approx(0.85, abs=0.01)  # the max over its targets
    # a newer model mask of the same target replaces its figure
    presegment(second, 0.95, target=doubtful)
    assert list(selectors.my_queue(a)) == [first, second]
    # a deleted target no longer counts
    presegment(first, 0.01)  # 0.99
    assert list(selectors.my_queue(a))[0] == first
    services.delete_target(first.targets.order_by("-id").first(), actor=people["annotator"])
    assert list(selectors.my_queue(a)) == [first, second]  # 0.4 > 0.1


def test_unclaimed_cases_ready_first_then_most_uncertain(project, people):
    a = people["annotator"]
    by_uncertainty(project)
    ready_sure = factories.case(project, status=CaseStatus.READY)
    presegment(ready_sure, 0.9)
    new_doubt = factories.case(project, status=CaseStatus.NEW)
    presegment(new_doubt, 0.1)
    ready_doubt = factories.case(project, status=CaseStatus.READY)
    presegment(ready_doubt, 0.3)
    ready_unscored = factories.case(project, status=CaseStatus.READY)
    assert list(selectors.unclaimed_cases(a)) == [
        ready_doubt,
        ready_sure,
        ready_unscored,
        new_doubt,
    ]
    assert workflow.next_case_for(a) == ready_doubt  # claimed from the self-service queue
    project.queue_order = QueueOrder.IMPORT
    project.save()
    assert list(selectors.unclaimed_cases(a)) == [ready_sure, ready_unscored, new_doubt]


def test_each_project_keeps_its_own_order_in_a_mixed_queue(project, people):
    a = people["annotator"]
    other = by_uncertainty(factories.project(annotator=[a]))
    plain_sure = factories.case(project, assignee=a)
    presegment(plain_sure, 0.9)
    plain_doubt = factories.case(project, assignee=a)
    presegment(plain_doubt, 0.1)
    ranked_sure = factories.case(other, assignee=a)
    presegment(ranked_sure, 0.8)
    ranked_doubt = factories.case(other, assignee=a)
    presegment(ranked_doubt, 0.2)
    queue = list(selectors.my_queue(a))
    assert queue.index(ranked_doubt) < queue.index(ranked_sure)
    assert queue.index(plain_sure) < queue.index(plain_doubt)
    assert list(selectors.my_queue(a, other)) == [ranked_doubt, ranked_sure]
    # a project ordered by doubt: its scored cases before the import-order project's
    assert queue == [ranked_doubt, ranked_sure, plain_sure, plain_doubt]
    # two projects by doubt (nothing held out): the most doubtful first across both
    third = by_uncertainty(factories.project(annotator=[a]))
    middle = factories.case(third, assignee=a)
    presegment(middle, 0.5)
    assert list(selectors.my_queue(a))[:3] == [ranked_doubt, middle, ranked_sure]


def test_the_queue_is_one_query(project, people, django_assert_num_queries):
    a = people["annotator"]
    by_uncertainty(project)
    for iou in (0.3, 0.6, 0.9, None):
        case = factories.case(project, assignee=a)
        presegment(case, iou)
        presegment(case, 0.5)
    with django_assert_num_queries(1):
        cases = list(selectors.my_queue(a))
        assert [c.uncertainty is not None for c in cases] == [True] * 4


def test_worklist_shows_the_score(project, people, client):
    a = people["annotator"]
    scored = factories.case(project, assignee=a)
    presegment(scored, 0.6)
    factories.case(project, assignee=a)
    cases, _ = queues.worklist(a, "todo")
    assert {c.pk: c.uncertainty for c in cases}[scored.pk] == pytest.approx(0.4, abs=0.01)
    client.force_login(a)
    page = client.get("/worklist/").content.decode()
    assert "Uncertainty" in page and ">0.40<" in page


def test_changing_the_order_is_audited(project, people):
    update_project(project, actor=people["manager"], queue_order=QueueOrder.UNCERTAINTY)
    event = AuditEvent.objects.filter(action="project.update").latest("id")
    assert event.data["queue_order"] == ["import", "uncertainty"]
    update_project(project, actor=people["manager"], manual_seconds_per_target=100)
    event = AuditEvent.objects.filter(action="project.update").latest("id")
    assert "queue_order" not in event.data


def test_the_project_page_sets_the_order_for_managers_only(project, people, client):
    client.force_login(people["manager"])
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'name="queue_order"' in page and "Most uncertain first" in page
    response = client.post(f"/projects/{project.pk}/queue-order", {"queue_order": "uncertainty"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.queue_order == QueueOrder.UNCERTAINTY
    client.force_login(people["annotator"])
    refused = client.post(f"/projects/{project.pk}/queue-order", {"queue_order": "import"})
    assert refused.status_code == 403
    project.refresh_from_db()
    assert project.queue_order == QueueOrder.UNCERTAINTY


def balanced(project):
    project.queue_order = QueueOrder.BALANCED
    project.save()
    return project


def test_balanced_order_in_sql_is_the_plain_rule(project, people):
    """Modalities in turn, a draw weighted by doubt within each, unscored last: the queue the
    database returns is ``cases.ordering.balanced_order`` of the same cases."""
    a = people["annotator"]
    balanced(project)
    ious = [0.95, 0.2, 0.6, None, 0.8, 0.4, 0.1, 0.9, None, 0.7, 0.3, 0.5, 0.85, 0.15]
    cases = []
    for n, iou in enumerate(ious):
        case = factories.case(project, assignee=a)
        if n % 3 == 2:  # a second modality in the same project
            Image.objects.filter(case=case).update(modality=Modality.MR)
        if iou is not None:
            presegment(case, iou)
        cases.append(case)
    queue = list(selectors.my_queue(a))
    rows = [(c.pk, c.image.modality, c.uncertainty) for c in queue]
    assert len(queue) == len(ious) and sum(u is None for _, _, u in rows) == 2
    assert [c.pk for c in queue] == balanced_order(
        rows, DEFAULT_SAMPLE
    )  # no round policy: the default
    modalities = [m for _, m, u in rows if u is not None]
    for turn in range(3):  # 3 scored MR cases of 12: a CT and an MR case in each turn
        assert set(modalities[2 * turn : 2 * turn + 2]) == {"CT", "MR"}
    assert [u is None for _, _, u in rows][-2:] == [True, True]


def test_balanced_order_keeps_rework_first_and_other_projects_their_own_order(project, people):
    a = people["annotator"]
    balanced(project)
    plain = factories.project(annotator=[a])
    ready = [factories.case(project, assignee=a) for _ in range(3)]
    for case, iou in zip(ready, [0.9, 0.3, 0.6], strict=True):
        presegment(case, iou)
    rework = factories.case(project, assignee=a, status=CaseStatus.REJECTED)
    presegment(rework, 0.99)
    plain_cases = [factories.case(plain, assignee=a) for _ in range(2)]
    for case, iou in zip(plain_cases, [0.9, 0.1], strict=True):
        presegment(case, iou)
    queue = list(selectors.my_queue(a))
    assert queue[0] == rework  # however sure the model is
    assert queue.index(plain_cases[0]) < queue.index(plain_cases[1])  # import order there
    mine = [c for c in queue if c.project_id == project.pk and c != rework]
    rows = [(c.pk, c.image.modality, c.uncertainty) for c in mine]
    assert [c.pk for c in mine] == balanced_order(
        rows, DEFAULT_SAMPLE
    )  # no round policy: the default
    assert workflow.next_case_for(a) == rework


def test_balanced_queue_is_one_query_and_unclaimed_cases_follow_it(
    project, people, django_assert_num_queries
):
    a = people["annotator"]
    balanced(project)
    for iou in (0.3, 0.6, 0.9, None, 0.2):
        case = factories.case(project, status=CaseStatus.READY)
        presegment(case, iou)
    with django_assert_num_queries(1):
        cases = list(selectors.unclaimed_cases(a))
    rows = [(c.pk, c.image.modality, c.uncertainty) for c in cases]
    assert [c.pk for c in cases] == balanced_order(
        rows, DEFAULT_SAMPLE
    )  # no round policy: the default
    assert workflow.next_case_for(a) == cases[0]


def test_the_api_takes_balanced_and_refuses_an_unknown_order(project, people, client):
    client.force_login(people["manager"])
    url = f"/api/v1/projects/{project.pk}/"
    ok = client.patch(url, {"queue_order": "balanced"}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["queue_order"] == "balanced"
    bad = client.patch(url, {"queue_order": "hardest"}, content_type="application/json")
    assert bad.status_code == 400
    project.refresh_from_db()
    assert project.queue_order == QueueOrder.BALANCED
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Uncertain first, balanced" in page


def test_the_evaluation_sample_in_sql_is_the_plain_rule(project, people):
    """A project whose rounds hold out 30%: the cases its split will hold out are served in
    import order whatever their doubt, one in about three, between the most doubtful others;
    the database's queue is ``cases.ordering.uncertainty_order`` of the same cases."""
    a = people["annotator"]
    by_uncertainty(project, sample=0.3)
    cases = [factories.case(project, assignee=a) for _ in range(16)]
    for n, case in enumerate(cases):
        presegment(case, 0.05 + 0.9 * ((n * 7) % 16) / 16)
    queue = list(selectors.my_queue(a))
    rows = [(c.pk, c.image.modality, c.uncertainty) for c in queue]
    assert [c.pk for c in queue] == uncertainty_order(rows, 0.3)
    sampled = [c.pk for c in cases if in_sample(c.pk, 0.3)]
    assert 0 < len(sampled) < len(cases)
    assert [c.pk for c in queue if c.pk in sampled] == sampled  # import order
    rest = [c for c in queue if c.pk not in sampled]
    assert [c.uncertainty for c in rest] == sorted((c.uncertainty for c in rest), reverse=True)
    first = queue[0].pk
    assert first not in sampled  # the most doubtful of the rest comes first
    # turns n / 0.3 against n / 0.7: by the 7th case, at least one from the sample
    assert any(c.pk in sampled for c in queue[:7])


def test_the_sample_follows_the_projects_held_out_fraction(project, people):
    a = people["annotator"]
    by_uncertainty(project, sample=0.3)
    cases = [factories.case(project, assignee=a) for _ in range(10)]
    for n, case in enumerate(cases):
        presegment(case, 0.95 - 0.1 * n)  # the later, the more doubtful
    rows = [(c.pk, c.image.modality, c.uncertainty) for c in selectors.my_queue(a)]
    assert [c.pk for c in selectors.my_queue(a)] == uncertainty_order(rows, 0.3)
    RoundPolicy.objects.filter(project=project).delete()  # no policy yet: the default share
    queue = [c.pk for c in selectors.my_queue(a)]
    assert queue == uncertainty_order(rows, 0.2)
    # ten consecutive ids hold a case of a 20% sample (its gaps are 3 to 7), served early
    assert queue != [c.pk for c in reversed(cases)]
    by_uncertainty(project, sample=0.0)  # nothing held out: the most doubtful first
    assert [c.pk for c in selectors.my_queue(a)] == [c.pk for c in reversed(cases)]
