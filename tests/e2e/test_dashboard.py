"""The dashboard in a real browser: Chromium (Playwright) against daphne on PostgreSQL. The
charts must show the numbers the metrics API gives."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client

from annotator.metrics.models import TargetOutcome
from tests import factories
from tests.browser import launch_chromium
from tests.live import ROOT

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the live stack needs PostgreSQL"),
]

ARTIFACTS = ROOT / "artifacts"


def collect_static(live) -> None:
    """The stack serves static files from its own STATIC_ROOT (WhiteNoise), as deployed; the
    server reads that folder when it starts, so collect first and restart it."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0",
         "-i", "drf_spectacular_sidecar", "-i", "rest_framework"],
        cwd=ROOT, env=live.env, check=True, timeout=300,
    )  # fmt: skip
    live.kill(live.server)
    live.start_server()


def build_history(project, people) -> None:
    """Accepted targets over three days and three model rounds, with falling time per target."""
    from tests.metrics.conftest import model_version

    versions = [None, *(model_version(project, round_number=n) for n in (1, 2, 3))]
    case = factories.case(project)
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    seconds = {None: [620, 540, 700], 1: [300, 260, 410], 2: [180, 150, 220], 3: [90, 120, 75]}
    for day, version in enumerate(versions):
        for i, active in enumerate(seconds[version.round_number if version else None]):
            target = factories.target(case)
            accepted = start + dt.timedelta(days=min(day, 2), hours=i)
            TargetOutcome.objects.create(
                target=target,
                project=project,
                case=case,
                label=target.label,
                annotator=people["annotator" if i % 2 else "annotator2"],
                reviewer=people["reviewer"],
                accepted_at=accepted,
                accepted_on=accepted.date(),
                model_version=version,
                model_round=version.round_number if version else None,
                ai_assisted=version is not None,
                active_seconds=float(active),
                wall_seconds=float(active) * 2,
                dice=None if version is None else 0.7 + 0.08 * version.round_number,
                changed_fraction=None if version is None else 0.3 / version.round_number,
                accepted_unchanged=None if version is None else i == 2,
                human_revisions=1,
                rejections=1 if i == 0 else 0,
            )


def chart_data(page) -> dict:
    return page.evaluate(
        """() => Object.fromEntries(Object.entries(window.dashboardCharts).map(([name, chart]) => [
            name, {labels: chart.data.labels,
                   datasets: chart.data.datasets.map(d => ({label: d.label, data: d.data})),
                   drawn: (() => {
                       const c = chart.canvas, ctx = c.getContext("2d");
                       const px = ctx.getImageData(0, 0, c.width, c.height).data;
                       let painted = 0;
                       for (let i = 3; i < px.length; i += 4) if (px[i] > 0) painted++;
                       return painted;
                   })()}]))"""
    )


def test_dashboard_charts_show_the_api_numbers(live, project, people):
    from playwright.sync_api import sync_playwright

    build_history(project, people)
    collect_static(live)
    manager = people["manager"]
    client = Client()
    client.force_login(manager)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    http = requests.Session()
    http.cookies.set(settings.SESSION_COOKIE_NAME, session)
    api = http.get(f"{live.url}/api/v1/projects/{project.pk}/metrics", timeout=30).json()
    assert api["summary"]["targets"] == 12

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1500})
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live.url}]
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live.url}/projects/{project.pk}/dashboard")
            page.wait_for_selector("main[data-ready='true']", timeout=30_000)
            charts = chart_data(page)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            tiles = page.locator("#tiles .value").all_inner_texts()
        finally:
            browser.close()
    assert errors == []
    rounds = api["by_round"]
    assert charts["rounds"]["labels"] == [r["label"] for r in rounds]
    assert charts["rounds"]["datasets"][0]["data"] == [r["median_active_seconds"] for r in rounds]
    # The paper's figure: time per target falls round by round.
    medians = [r["median_active_seconds"] for r in rounds]
    assert medians == sorted(medians, reverse=True)
    ai = [r for r in rounds if r["key"] is not None]
    assert charts["quality"]["datasets"][0]["data"] == [r["mean_dice"] for r in ai]
    assert charts["quality"]["datasets"][1]["data"] == [r["unchanged_rate"] for r in ai]
    days = api["by_day"]
    assert charts["days"]["labels"] == [d["key"] for d in days]
    assert charts["days"]["datasets"][0]["data"] == [d["targets"] for d in days]
    assert charts["days"]["datasets"][1]["data"] == [d["throughput_per_hour"] for d in days]
    cumulative, total = [], 0.0
    for d in days:
        total += d["time_saved_hours"]
        cumulative.append(total)
    assert charts["saved"]["datasets"][0]["data"] == pytest.approx(cumulative)
    people_rows = api["by_annotator"]
    assert charts["annotators"]["labels"] == [p["label"] for p in people_rows]
    assert charts["annotators"]["datasets"][1]["data"] == [
        p["throughput_per_hour"] for p in people_rows
    ]
    assert all(chart["drawn"] > 1000 for chart in charts.values()), charts
    assert tiles[0] == "12"
    assert Path(ARTIFACTS / "dashboard.png").stat().st_size > 10_000
