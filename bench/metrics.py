"""Project metrics over 10,000 accepted targets: the API answer time.

Builds, in a throwaway database (SQLite by default; --database-url names a PostgreSQL server,
on which a temporary database is created and dropped), one project with --targets accepted
targets and realistic histories: cases of 1-6 targets, 8 annotators, 2 reviewers, four model
rounds plus targets annotated without AI, model and human mask revisions, re-prompts, reviews
with some rejections, and the per-target outcome rows the review flow writes. Then it times,
best and median of --repeat, the three run in turns so they share the machine's load:
- GET /api/v1/projects/{id}/metrics through Django (auth, aggregation, JSON) — this is
  `metrics_10k_targets_ms` (median);
- the selector alone (annotator.metrics.selectors.project_metrics);
- a baseline in the same process: the same figures computed by a naive Python loop over all
  outcome rows, checked to agree with the database's answer, and the ratio of the two.
Ends with one JSON line of figures.

    python bench/metrics.py [--targets 10000] [--repeat 7]
    python bench/metrics.py --database-url postgres://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from urllib.parse import urlsplit, urlunsplit

import repo_path  # noqa: E402, F401


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default="", help="PostgreSQL server URL (optional)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


ARGS = _args()
_VAR = tempfile.mkdtemp(prefix="bench-metrics-var-")
os.environ["ANNOTATOR_VAR_DIR"] = _VAR
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
os.environ["AUTO_PRESEGMENT"] = "0"
os.environ["LOG_LEVEL"] = "WARNING"
_PG_NAME = f"metrics_bench_{os.getpid()}"
if ARGS.database_url:
    import psycopg

    admin = psycopg.connect(ARGS.database_url, autocommit=True)
    admin.cursor().execute(f'CREATE DATABASE "{_PG_NAME}"')
    admin.close()
    parts = urlsplit(ARGS.database_url)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{_PG_NAME}"))
else:
    os.environ.pop("DATABASE_URL", None)  # embedded default: SQLite under the temp var dir

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from annotator.annotations.models import (  # noqa: E402
    MaskRevision,
    PresegmentJob,
    Review,
    Target,
)
from annotator.cases.models import Case  # noqa: E402
from annotator.metrics import selectors  # noqa: E402
from annotator.metrics.models import TargetOutcome  # noqa: E402
from annotator.modelops.models import ModelVersion  # noqa: E402
from annotator.projects.models import Membership, Project  # noqa: E402

START = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
BATCH = 2000


def build(n_targets: int, seed: int) -> Project:
    rng = np.random.default_rng(seed)
    users = get_user_model().objects
    annotators = [users.create_user(f"annotator{i}", password="x") for i in range(8)]
    reviewers = [users.create_user(f"reviewer{i}", password="x") for i in range(2)]
    manager = users.create_user("manager", password="x")
    project = Project.objects.create(
        name="Bench", slug="bench", labels=[{"name": "lesion", "color": "#ff0000"}]
    )
    Membership.objects.bulk_create(
        [Membership(project=project, user=u, role="annotator") for u in annotators]
        + [Membership(project=project, user=u, role="reviewer") for u in reviewers]
        + [Membership(project=project, user=manager, role="manager")]
    )
    versions = [
        ModelVersion.objects.create(
            name=f"round-{r}", origin="round", config="medsam2_t512", checksum="0" * 64,
            file=f"r{r}.pt", round_number=r, project=project,
        )
        for r in range(1, 5)
    ]  # fmt: skip
    # Cases of 1-6 targets until n_targets; each case belongs to one round (or no AI).
    sizes = []
    while sum(sizes) < n_targets:
        sizes.append(int(min(rng.integers(1, 7), n_targets - sum(sizes))))
    cases = Case.objects.bulk_create(
        [
            Case(project=project, study_id=f"ST{i:08d}", fingerprint=uuid.uuid4().hex,
                 status="accepted")
            for i in range(len(sizes))
        ],
        batch_size=BATCH,
    )  # fmt: skip
    case_of = [c for c, k in zip(cases, sizes, strict=True) for _ in range(k)]
    targets = Target.objects.bulk_create(
        [Target(case=c, label="lesion", key_index=10) for c in case_of], batch_size=BATCH
    )
    revisions, reviews, jobs, outcomes = [], [], [], []
    for i, (target, case) in enumerate(zip(targets, case_of, strict=True)):
        progress = i / n_targets  # rounds follow each other in time
        rnd = int(progress * 5)  # 0 = without AI, 1..4 = rounds
        version = versions[rnd - 1] if rnd else None
        annotator = annotators[case.pk % len(annotators)]
        reviewer = reviewers[case.pk % len(reviewers)]
        opened = START + dt.timedelta(minutes=15 * i / 4)
        # Time per target falls with each round (the paper's figure), with spread.
        typical = 600.0 * (0.55**rnd)
        unchanged = bool(version) and rng.random() < 0.1 * rnd
        active = 0.0 if unchanged else float(rng.gamma(4.0, typical / 4.0))
        saves = 0 if unchanged else int(rng.integers(1, 4))
        rejected = int(rng.random() < 0.08)
        dice = None if not version else (1.0 if unchanged else float(rng.beta(8 + 6 * rnd, 3)))
        accepted_at = opened + dt.timedelta(seconds=active * 1.6 + 300 + 900 * rejected)
        for s in range(int(bool(version)) + saves):
            revisions.append(
                MaskRevision(
                    target=target, source="model" if (version and s == 0) else "human",
                    author=None if (version and s == 0) else annotator,
                    model_version=version if s == 0 else None, file=f"m/{target.pk}/{s}.nii.gz",
                    checksum=uuid.uuid4().hex, voxel_count=int(rng.integers(50, 5000)),
                    active_seconds=None if (version and s == 0) else active / max(saves, 1),
                )
            )  # fmt: skip
        reprompts = int(rng.random() < 0.25) if version else 0
        for _ in range(reprompts):
            jobs.append(PresegmentJob(target=target, case=case, automatic=False, status="done"))
        for _ in range(rejected):
            reviews.append(
                Review(target=target, reviewer=reviewer, decision="reject", comment="fix")
            )
        reviews.append(Review(target=target, reviewer=reviewer, decision="accept"))
        wall = active * 1.6 + 120
        outcomes.append(
            TargetOutcome(
                target=target, project=project, case=case, label="lesion", annotator=annotator,
                reviewer=reviewer, accepted_at=accepted_at, accepted_on=accepted_at.date(),
                model_version=version, model_round=version.round_number if version else None,
                ai_assisted=bool(version), active_seconds=active, rework_active_seconds=0.0,
                first_opened_at=opened, first_submitted_at=opened + dt.timedelta(seconds=wall),
                case_wall_seconds=wall, wall_seconds=wall, human_revisions=saves,
                model_revisions=int(bool(version)), reprompts=reprompts, rejections=rejected,
                case_rejections=rejected, dice=dice,
                changed_fraction=None if dice is None else (1 - dice) / (1 + dice),
                accepted_unchanged=unchanged if version else None,
            )
        )  # fmt: skip
    MaskRevision.objects.bulk_create(revisions, batch_size=BATCH)
    Review.objects.bulk_create(reviews, batch_size=BATCH)
    PresegmentJob.objects.bulk_create(jobs, batch_size=BATCH)
    TargetOutcome.objects.bulk_create(outcomes, batch_size=BATCH)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return project


# ---------------------------------------------------------------- the naive baseline


def _median(values):
    return statistics.median(values) if values else None


def _mean(values):
    return sum(values) / len(values) if values else None


def _aggregate(rows: list[dict]) -> dict:
    """The same aggregates as selectors._AGGREGATES, one Python pass per figure."""
    active = [r["active_seconds"] for r in rows if r["active_seconds"] is not None]
    dice = [r["dice"] for r in rows if r["dice"] is not None]
    changed = [r["changed_fraction"] for r in rows if r["changed_fraction"] is not None]
    walls = [r["wall_seconds"] for r in rows if r["wall_seconds"] is not None]
    ai_active = [
        r["active_seconds"] for r in rows if r["ai_assisted"] and r["active_seconds"] is not None
    ]
    rework = [r["rework_active_seconds"] for r in rows if r["rework_active_seconds"] is not None]
    return {
        "targets": len(rows),
        "cases": len({r["case_id"] for r in rows}),
        "ai_targets": sum(1 for r in rows if r["ai_assisted"]),
        "timed_targets": len(active),
        "sum_active": sum(active) if active else None,
        "mean_active_seconds": _mean(active),
        "median_active_seconds": _median(active),
        "median_wall_seconds": _median(walls),
        "sum_rework": sum(rework) if rework else None,
        "mean_dice": _mean(dice),
        "mean_changed_fraction": _mean(changed),
        "unchanged": sum(1 for r in rows if r["accepted_unchanged"]),
        "sum_revisions": sum(r["human_revisions"] for r in rows),
        "sum_reprompts": sum(r["reprompts"] for r in rows),
        "sum_rejections": sum(r["rejections"] for r in rows),
        "reworked": sum(1 for r in rows if r["rejections"] > 0),
        "ai_timed_targets": len(ai_active),
        "ai_active_seconds": sum(ai_active) if ai_active else None,
    }


def naive_metrics(project: Project) -> dict:
    rows = list(TargetOutcome.objects.filter(project=project).values())
    manual = [r["active_seconds"] for r in rows if not r["ai_assisted"]]
    manual = [m for m in manual if m is not None]
    seconds = (
        statistics.median(manual)
        if len(manual) >= selectors.MIN_MANUAL_TARGETS
        else float(project.manual_seconds_per_target)
    )
    base = selectors.Baseline(seconds, "", 0.0, None, len(manual))
    out = {"summary": selectors._derive(_aggregate(rows), base)}
    for name, key in (
        ("by_annotator", "annotator_id"),
        ("by_day", "accepted_on"),
        ("by_round", "model_version_id"),
    ):
        groups = defaultdict(list)
        for r in rows:
            groups[r[key]].append(r)
        out[name] = {k: selectors._derive(_aggregate(g), base) for k, g in groups.items()}
    return out


def _agree(db: dict, naive: dict) -> bool:
    def close(a, b):
        if a is None or b is None:
            return a is b
        return abs(float(a) - float(b)) <= 1e-3 * max(1.0, abs(float(b)))

    pairs = [(db["summary"], naive["summary"])]
    for name in ("by_annotator", "by_round"):
        pairs += [(row, naive[name][row["key"]]) for row in db[name]]
    pairs += [(row, naive["by_day"][dt.date.fromisoformat(row["key"])]) for row in db["by_day"]]
    return all(close(a[f], b[f]) for a, b in pairs for f in selectors.FIGURES)


def _time_interleaved(fns: dict, repeat: int) -> dict[str, tuple[float, float, object]]:
    """Best and median ms of each function, run in turns so that all of them see the same
    machine load (the CPU is shared); one warm-up round first."""
    times = {name: [] for name in fns}
    results = {name: fn() for name, fn in fns.items()}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return {n: (min(t), statistics.median(t), results[n]) for n, t in times.items()}


def main() -> None:
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    project = build(ARGS.targets, ARGS.seed)
    build_s = time.perf_counter() - started
    manager = get_user_model().objects.get(username="manager")
    client = APIClient()
    client.force_authenticate(manager)
    url = f"/api/v1/projects/{project.pk}/metrics"

    def api():
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        return response.json()

    timed = _time_interleaved(
        {
            "api": api,
            "selector": lambda: selectors.project_metrics(project),
            "naive": lambda: naive_metrics(project),
        },
        ARGS.repeat,
    )
    api_best, api_median, body = timed["api"]
    sel_best, sel_median, db = timed["selector"]
    naive_best, naive_median, naive = timed["naive"]
    agree = _agree(db, naive)
    print(
        f"{connection.vendor}: {ARGS.targets} targets built in {build_s:.1f} s; "
        f"API median {api_median:.1f} ms (best {api_best:.1f}); selector median "
        f"{sel_median:.1f} ms; naive Python loop median {naive_median:.1f} ms; "
        f"naive/DB {naive_median / sel_median:.2f}x; figures agree: {agree}",
        file=sys.stderr,
    )
    assert body["summary"]["targets"] == ARGS.targets
    print(
        json.dumps(
            {
                "metrics_10k_targets_ms": round(api_median, 1),
                "metrics_api_best_ms": round(api_best, 1),
                "selector_median_ms": round(sel_median, 1),
                "naive_python_median_ms": round(naive_median, 1),
                "naive_over_db_ratio": round(naive_median / sel_median, 2),
                "figures_agree": agree,
                "targets": ARGS.targets,
                "database": connection.vendor,
                "build_s": round(build_s, 1),
            }
        )
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        connection.close()
        if ARGS.database_url:
            admin = psycopg.connect(ARGS.database_url, autocommit=True)
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{_PG_NAME}"')
            admin.close()
        import shutil

        shutil.rmtree(_VAR, ignore_errors=True)
