"""The work pages' reads take a fixed number of queries, whatever the number of projects."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotator.annotations import queues
from annotator.cases.models import CaseStatus
from tests import factories


def _home(user) -> tuple[list[dict], int]:
    user.__dict__.pop("_role_cache", None)  # as in a new request
    with CaptureQueriesContext(connection) as captured:
        rows = queues.home_rows(user)
    return rows, len(captured)


def test_home_rows_take_the_same_queries_for_one_project_or_five(db, people):
    reviewer = people["reviewer"]
    first = factories.project(reviewer=[reviewer], annotator=[people["annotator"]])
    factories.case(first, assignee=people["annotator"], status=CaseStatus.SUBMITTED)
    _, for_one = _home(reviewer)
    for _ in range(4):
        factories.project(reviewer=[reviewer])
    rows, for_five = _home(reviewer)
    assert for_five == for_one
    row = next(r for r in rows if r["project"].pk == first.pk)
    assert row["to_review"] == 1 and row["open"] == 0
    assert all(r["roles"] == ["reviewer"] and not r["is_manager"] for r in rows)
    assert not any(r["annotates"] for r in rows)


def test_home_rows_for_an_annotator(db, people):
    annotator = people["annotator"]
    project = factories.project(annotator=[annotator])
    factories.case(project, assignee=annotator, status=CaseStatus.READY)
    (row,) = queues.home_rows(annotator)
    assert row["open"] == 1 and row["to_review"] is None and row["annotates"]
