"""Project metrics (API and CSV) on constructed histories with known answers."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db.models import Q, Value

from annotator.metrics import selectors
from annotator.metrics.aggregates import Median
from annotator.metrics.models import TargetOutcome
from tests import factories

from .conftest import (
    START,
    box_mask,
    human_save,
    model_version,
    review,
    start,
    submit,
    two_target_history,
)

DAY = 86400


@pytest.fixture
def history(project, people, clock, django_capture_on_commit_callbacks):
    """Day 1: the two AI-assisted targets of two_target_history (annotator). Day 2: one target
    annotated without AI by annotator2: 300 active seconds, open → submit 900 s."""
    with django_capture_on_commit_callbacks(execute=True):
        case, t1, t2, version = two_target_history(project, people, clock)
        manual = factories.case(project, assignee=people["annotator2"])
        t3 = factories.target(manual)
        clock.at(DAY + 100)
        start(manual, people["annotator2"])
        clock.at(DAY + 400)
        human_save(t3, people["annotator2"], box_mask(manual), active_seconds=300)
        clock.at(DAY + 1000)
        submit(manual, people["annotator2"])
        clock.at(DAY + 1200)
        review(t3, people["reviewer"], "accept")
    return {"ai_case": case, "manual_case": manual, "version": version, "t": (t1, t2, t3)}


def approx(value):
    return pytest.approx(value, abs=1e-4)


def test_summary_figures(history, project, client_for, people):
    data = client_for(people["manager"]).get(f"/api/v1/projects/{project.pk}/metrics").json()
    s = data["summary"]
    assert (s["targets"], s["cases"], s["ai_targets"], s["timed_targets"]) == (3, 2, 2, 3)
    # Active: t1 0 (accepted unchanged), t2 120 + 30.5 + 60, t3 300.
    assert s["active_hours"] == approx(510.5 / 3600)
    assert s["throughput_per_hour"] == approx(3 / (510.5 / 3600))
    assert s["median_active_seconds"] == approx(210.5)
    assert s["mean_active_seconds"] == approx(510.5 / 3)
    assert s["median_wall_seconds"] == approx(450)  # 450, 450 (900 s / 2 targets), 900
    assert s["rework_active_seconds"] == approx(60)
    dice_t2 = 2 * 96 / (96 + 121)
    assert s["mean_dice"] == approx((1 + dice_t2) / 2)
    assert s["mean_changed_fraction"] == approx((0 + 25 / 121) / 2)
    assert (s["unchanged"], s["unchanged_rate"]) == (1, 0.5)
    assert s["revisions_per_target"] == approx(4 / 3)
    assert s["reprompts_per_target"] == approx(1 / 3)
    assert s["rejections"] == 1 and s["rework_rate"] == approx(1 / 3)
    # Time saved: the AI-assisted targets against the project's 600 s baseline.
    assert s["baseline_seconds"] == 600
    assert s["time_saved_seconds"] == approx(2 * 600 - 210.5)
    assert s["time_saved_hours"] == approx((1200 - 210.5) / 3600)
    assert s["time_saved_percent"] == approx(100 * (1200 - 210.5) / 1200)
    assert data["baseline"] == {
        "seconds": 600,
        "source": "project",
        "project_seconds": 600.0,
        "measured_seconds": 300.0,
        "manual_targets": 1,
        "min_manual_targets": selectors.MIN_MANUAL_TARGETS,
    }
    assert data["outcomes_pending"] == 0


def test_breakdowns(history, project, client_for, people):
    data = client_for(people["manager"]).get(f"/api/v1/projects/{project.pk}/metrics").json()
    annotators = {r["label"]: r for r in data["by_annotator"]}
    assert set(annotators) == {"annotator", "annotator2"}
    assert annotators["annotator"]["targets"] == 2
    assert annotators["annotator"]["median_active_seconds"] == approx(105.25)
    assert annotators["annotator"]["throughput_per_hour"] == approx(2 / (210.5 / 3600))
    assert annotators["annotator2"]["time_saved_seconds"] == 0  # no AI, nothing saved
    days = [(r["key"], r["targets"]) for r in data["by_day"]]
    assert days == [("2026-03-02", 2), ("2026-03-03", 1)]
    rounds = data["by_round"]
    assert [r["label"] for r in rounds] == ["without AI", "round 1 (round-1)"]
    assert rounds[0]["key"] is None and rounds[0]["median_active_seconds"] == 300
    assert rounds[1]["key"] == history["version"].pk and rounds[1]["round"] == 1
    assert rounds[1]["unchanged_rate"] == 0.5
    assert rounds[1]["time_saved_seconds"] == approx(1200 - 210.5)


def test_filters(history, project, client_for, people):
    client = client_for(people["manager"])
    url = f"/api/v1/projects/{project.pk}/metrics"
    day2 = client.get(url, {"since": "2026-03-03"}).json()
    assert day2["summary"]["targets"] == 1 and day2["filters"]["since"] == "2026-03-03"
    day1 = client.get(url, {"until": "2026-03-02"}).json()
    assert day1["summary"]["targets"] == 2
    mine = client.get(url, {"annotator": people["annotator2"].pk}).json()
    assert mine["summary"]["targets"] == 1
    assert client.get(url, {"since": "yesterday"}).status_code == 400
    assert client.get(url, {"annotator": "bob"}).status_code == 400


def test_round_trend_and_measured_baseline(project, people):
    """Time per target falls round by round; with 20 manual targets the baseline is their
    median, with 19 it is the project setting."""
    case = factories.case(project)
    v1 = _version(project, 1)
    v2 = _version(project, 2)
    rows = [(None, 400.0)] * 19 + [(v1, 200.0), (v1, 100.0), (v2, 60.0), (v2, 40.0), (v2, 50.0)]
    for version, seconds in rows:
        _outcome(project, case, people["annotator"], version, seconds)
    data = selectors.project_metrics(project)
    assert data["baseline"]["source"] == "project" and data["baseline"]["seconds"] == 600
    trend = [(r["round"], r["median_active_seconds"]) for r in data["by_round"]]
    assert trend == [(None, 400.0), (1, 150.0), (2, 50.0)]
    _outcome(project, case, people["annotator"], None, 500.0)  # the 20th manual target
    data = selectors.project_metrics(project)
    assert data["baseline"]["source"] == "measured"
    assert data["baseline"]["seconds"] == 400.0 and data["baseline"]["manual_targets"] == 20
    round2 = data["by_round"][-1]
    assert round2["time_saved_seconds"] == approx(3 * 400 - 150)
    assert round2["time_saved_percent"] == approx(100 * (1200 - 150) / 1200)


def test_empty_project(project):
    data = selectors.project_metrics(project)
    s = data["summary"]
    assert s["targets"] == 0 and s["throughput_per_hour"] is None
    assert s["median_active_seconds"] is None and s["time_saved_seconds"] == 0
    assert data["by_day"] == [] and data["by_round"] == []


def test_pending_outcomes_are_reported(history, project):
    TargetOutcome.objects.filter(target=history["t"][2]).delete()
    assert selectors.project_metrics(project)["outcomes_pending"] == 1


def test_median_matches_percentile_cont(project, people):
    case = factories.case(project)
    for seconds in (1.0, 2.0, 10.0, 3.0, None):
        _outcome(project, case, people["annotator"], None, seconds)
    qs = TargetOutcome.objects.filter(project=project)
    assert qs.aggregate(m=Median("active_seconds"))["m"] == 2.5  # NULL ignored, interpolated
    assert qs.filter(active_seconds__lt=3).aggregate(m=Median("active_seconds"))["m"] == 1.5
    filtered = Median("active_seconds", filter=Q(active_seconds__lt=3))
    assert qs.aggregate(m=filtered)["m"] == 1.5
    assert qs.filter(active_seconds=10).aggregate(m=Median("active_seconds"))["m"] == 10
    assert qs.filter(active_seconds__gt=99).aggregate(m=Median("active_seconds"))["m"] is None
    grouped = qs.values("project").annotate(m=Median("active_seconds"), one=Value(1))
    assert [g["m"] for g in grouped] == [2.5]


# ---------------------------------------------------------------- CSV == API


def _csv(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def _same(cell: str, value) -> bool:
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == ("true" if value else "false")
    if isinstance(value, int | float):
        return float(cell) == float(value)
    return cell == str(value)


def test_metrics_csv_matches_api(history, project, client_for, people):
    client = client_for(people["manager"])
    data = client.get(f"/api/v1/projects/{project.pk}/metrics").json()
    rows = _csv(client.get(f"/api/v1/projects/{project.pk}/metrics.csv"))
    expected = selectors.metric_rows(data)
    assert len(rows) == len(expected) == 1 + 2 + 2 + 2
    for row, want in zip(rows, expected, strict=True):
        for column in selectors.METRIC_COLUMNS:
            assert _same(row[column], want.get(column)), (column, row[column], want.get(column))


@pytest.mark.parametrize("kind", ["targets", "cases"])
def test_row_csv_matches_api(kind, history, project, client_for, people):
    client = client_for(people["manager"])
    listing = client.get(f"/api/v1/projects/{project.pk}/metrics/{kind}").json()
    rows = _csv(client.get(f"/api/v1/projects/{project.pk}/metrics/{kind}.csv"))
    columns = selectors.TARGET_COLUMNS if kind == "targets" else selectors.CASE_COLUMNS
    assert list(rows[0]) == columns
    assert len(rows) == listing["count"] == (3 if kind == "targets" else 2)
    for row, item in zip(rows, listing["results"], strict=True):
        for column in columns:
            value = item[column]
            if isinstance(value, str) and "T" in value and value[:4].isdigit():
                assert row[column].replace("+00:00", "Z") == value.replace("+00:00", "Z")
            else:
                assert _same(row[column], value), (column, row[column], value)


def test_target_rows(history, project, client_for, people):
    rows = client_for(people["manager"]).get(f"/api/v1/projects/{project.pk}/metrics/targets")
    by_target = {r["target"]: r for r in rows.json()["results"]}
    t1, t2, t3 = history["t"]
    assert by_target[t1.pk]["accepted_unchanged"] is True
    assert by_target[t2.pk]["rejections"] == 1 and by_target[t2.pk]["reprompts"] == 1
    assert by_target[t2.pk]["annotator_username"] == "annotator"
    assert by_target[t2.pk]["reviewer_username"] == "reviewer"
    assert by_target[t1.pk]["model_name"] == "round-1"
    assert by_target[t3.pk]["model_name"] is None and by_target[t3.pk]["ai_assisted"] is False
    first_submit = START + dt.timedelta(seconds=1000)
    assert dt.datetime.fromisoformat(by_target[t2.pk]["first_submitted_at"]) == first_submit


# ---------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    "path",
    [
        "metrics",
        "metrics.csv",
        "metrics/targets",
        "metrics/targets.csv",
        "metrics/cases",
        "metrics/cases.csv",
    ],
)
def test_only_managers_and_admins_see_metrics(path, project, people, client_for):
    url = f"/api/v1/projects/{project.pk}/{path}"
    assert client_for(people["manager"]).get(url).status_code == 200
    assert client_for(people["admin"]).get(url).status_code == 200
    for role in ("annotator", "reviewer"):
        assert client_for(people[role]).get(url).status_code == 403, role
    assert client_for(people["outsider"]).get(url).status_code == 404
    assert client_for().get(url).status_code == 401


def _version(project, number):
    return model_version(project, round_number=number)


def _outcome(project, case, annotator, version, seconds):
    target = factories.target(case)
    return TargetOutcome.objects.create(
        target=target,
        project=project,
        case=case,
        label=target.label,
        annotator=annotator,
        accepted_at=START,
        accepted_on=START.date(),
        model_version=version,
        model_round=version.round_number if version else None,
        ai_assisted=version is not None,
        active_seconds=seconds,
    )
