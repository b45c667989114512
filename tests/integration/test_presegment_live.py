"""Pre-segmentation through the real stack: daphne, a Celery worker, Redis, PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
import requests
import websockets
from django.conf import settings
from django.test import Client

from annotator.annotations.models import JobStatus, MaskRevision, PresegmentJob
from tests import factories
from tests.live import wait_for

pytestmark = [pytest.mark.integration]


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def api(live, user):
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    s = requests.Session()
    s.headers["Authorization"] = f"Token {token.key}"
    return s


async def collect_progress(url: str, cookie: str, until_status: set[str], timeout: float):
    messages = []
    ws_url = url.replace("http://", "ws://")
    async with websockets.connect(
        ws_url, additional_headers={"Cookie": cookie, "Origin": "http://127.0.0.1"}
    ) as ws:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=1)
            except TimeoutError:
                continue
            message = json.loads(raw)
            messages.append(message)
            if message.get("status") in until_status:
                break
    return messages


def test_presegment_via_api_streams_progress_and_stores_revision(live, project, people, tmp_path):
    model = factories.tiny_model_version(tmp_path)
    case = factories.case(project, assignee=people["annotator"], shape_zyx=(24, 48, 48))
    target = factories.target(case, key_index=12, box=[10, 10, 30, 30])
    live.start_worker()
    client = api(live, people["annotator"])
    cookie = session_cookie(people["annotator"])

    async def scenario():
        listener = asyncio.ensure_future(
            collect_progress(
                f"{live.url}/ws/cases/{case.pk}/progress", cookie, {"done", "failed"}, 120
            )
        )
        await asyncio.sleep(0.5)  # connected before the job starts
        response = await asyncio.to_thread(
            client.post,
            f"{live.url}/api/v1/targets/{target.pk}/presegment",
            json={"options": {"early_stop_patience": None}},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        return response.json(), await listener

    job, messages = asyncio.run(scenario())
    statuses = [m["status"] for m in messages if m.get("job") == job["id"]]
    assert statuses[0] == "queued" and statuses[-1] == "done", messages
    assert "running" in statuses
    running = [m for m in messages if m.get("status") == "running" and m["total"]]
    assert running and all(0 <= m["done"] <= m["total"] for m in running)
    final = messages[-1]
    revision = MaskRevision.objects.get(pk=final["revision"])
    assert revision.source == "model" and revision.model_version_id == model.pk
    assert MaskRevision.objects.filter(target=target).count() == 1
    head = client.get(f"{live.url}/api/v1/targets/{target.pk}/", timeout=10).json()
    assert head["head"] == revision.pk and head["head_source"] == "model"


def test_worker_killed_mid_task_is_redelivered_and_finishes_once(live, project, people, tmp_path):
    import torch

    from annotator.registry import services as modelops
    from annotator.registry.models import ModelOrigin
    from inference.checkpoint import save_checkpoint
    from inference.model import STARTER_LARGE as STARTER
    from inference.model import build_model

    torch.manual_seed(0)
    path = tmp_path / "starter-random.pt"
    save_checkpoint(build_model(STARTER), path)  # big enough to be slow on purpose
    modelops.promote(
        modelops.register(path, name="slow", origin=ModelOrigin.BOOTSTRAP, config=STARTER),
        override="test model: random weights, not evaluated",
    )
    rng = np.random.default_rng(0)
    volume = rng.integers(-100, 100, (48, 64, 64), dtype=np.int16)
    case = factories.case(project, assignee=people["annotator"], array=volume)
    target = factories.target(case, key_index=24, box=[10, 10, 40, 40])
    first = live.start_worker("first")
    client = api(live, people["annotator"])
    response = client.post(
        f"{live.url}/api/v1/targets/{target.pk}/presegment",
        json={"options": {"early_stop_patience": None}},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    def started() -> bool:
        job = PresegmentJob.objects.get(pk=job_id)
        return job.status == JobStatus.RUNNING and job.done > 0

    wait_for(started, 120, "the job to start on the first worker", live)
    live.kill(first)  # SIGKILL the whole worker, pool child included
    assert PresegmentJob.objects.get(pk=job_id).status == JobStatus.RUNNING
    live.start_worker("second")

    def finished() -> bool:
        return PresegmentJob.objects.get(pk=job_id).status in (JobStatus.DONE, JobStatus.FAILED)

    wait_for(finished, 240, "the redelivered job to finish", live)
    job = PresegmentJob.objects.get(pk=job_id)
    assert job.status == JobStatus.DONE, job.message
    assert job.attempts == 2
    assert MaskRevision.objects.filter(target=target).count() == 1
