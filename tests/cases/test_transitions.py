import pytest

from annotator.audit.models import AuditEvent
from annotator.cases import services
from annotator.cases.models import Case, CaseStatus
from annotator.core.errors import InvalidTransition
from tests import factories

S = CaseStatus
ALLOWED = {
    (S.NEW, S.PRESEGMENTING), (S.NEW, S.READY), (S.NEW, S.IN_PROGRESS),
    (S.PRESEGMENTING, S.READY), (S.PRESEGMENTING, S.IN_PROGRESS),
    (S.READY, S.PRESEGMENTING), (S.READY, S.IN_PROGRESS),
    (S.IN_PROGRESS, S.SUBMITTED),
    (S.SUBMITTED, S.ACCEPTED), (S.SUBMITTED, S.REJECTED),
    (S.REJECTED, S.IN_PROGRESS),
    (S.ACCEPTED, S.IN_PROGRESS),
}  # fmt: skip
ALL_PAIRS = [(a, b) for a in S.values for b in S.values if a != b]


@pytest.mark.parametrize(("start", "end"), ALL_PAIRS)
def test_only_listed_transitions_are_allowed(project, people, start, end):
    case = factories.case(project, status=start)
    if (start, end) in ALLOWED:
        services.transition(case, end, actor=people["manager"])
        assert Case.objects.get(pk=case.pk).status == end
        event = AuditEvent.objects.filter(action="case.status", object_id=str(case.pk)).get()
        assert event.data == {"from": start, "to": end}
        assert event.actor == people["manager"]
    else:
        with pytest.raises(InvalidTransition):
            services.transition(case, end, actor=people["manager"])
        assert Case.objects.get(pk=case.pk).status == start
        assert not AuditEvent.objects.filter(action="case.status").exists()


def test_timestamps_follow_the_workflow(project, people):
    case = factories.case(project, status=S.READY)
    services.transition(case, S.IN_PROGRESS)
    first_open = case.first_opened_at
    assert first_open is not None
    services.transition(case, S.SUBMITTED)
    assert case.submitted_at is not None
    services.transition(case, S.REJECTED)
    assert case.closed_at is not None
    services.transition(case, S.IN_PROGRESS)
    assert case.first_opened_at == first_open  # the first opening is kept
    assert case.closed_at is None


def test_stale_view_of_a_case_cannot_change_it(project):
    case = factories.case(project, status=S.IN_PROGRESS)
    stale = Case.objects.get(pk=case.pk)
    services.transition(case, S.SUBMITTED)
    with pytest.raises(InvalidTransition, match="submitted"):
        services.transition(stale, S.SUBMITTED)
    services.transition(case, S.ACCEPTED)
    stale2 = Case.objects.get(pk=case.pk)
    Case.objects.filter(pk=case.pk).update(version=stale2.version + 1)
    with pytest.raises(InvalidTransition, match="changed by someone else"):
        services.transition(stale2, S.IN_PROGRESS)


def test_ensure_in_progress_refuses_locked_cases(project):
    for status in (S.SUBMITTED, S.ACCEPTED):
        case = factories.case(project, status=status)
        with pytest.raises(InvalidTransition):
            services.ensure_in_progress(case, actor=None)
    case = factories.case(project, status=S.REJECTED)
    assert services.ensure_in_progress(case, actor=None).status == S.IN_PROGRESS
