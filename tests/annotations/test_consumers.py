"""The progress websocket: authentication, per-case permission, snapshot and live updates."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from annotator.annotations import progress
from annotator.annotations.models import PresegmentJob
from annotator.asgi import application
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(user=None):
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        client = Client()
        client.force_login(user)
        cookie = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
        headers.append((b"cookie", cookie.encode()))
    return headers


def connect(case_id, user=None):
    headers = _headers(user)

    async def run():
        comm = WebsocketCommunicator(application, f"/ws/cases/{case_id}/progress", headers=headers)
        connected, code = await comm.connect()
        messages = []
        if connected:
            while not await comm.receive_nothing(timeout=0.3):
                messages.append(await comm.receive_json_from())
        await comm.disconnect()
        return connected, code, messages

    return async_to_sync(run)()


@pytest.fixture
def job(project, people):
    case = factories.case(project, assignee=people["annotator"])
    target = factories.target(case)
    return PresegmentJob.objects.create(target=target, case=case, status="running", done=2, total=9)


def test_anonymous_and_foreign_users_are_refused(job, people):
    assert connect(job.case_id)[:2] == (False, 4401)
    assert connect(job.case_id, people["outsider"])[:2] == (False, 4403)
    assert connect(job.case_id, people["annotator2"])[:2] == (False, 4403)  # not assigned
    assert connect(999999, people["admin"])[:2] == (False, 4403)


def test_snapshot_on_connect(job, people):
    for who in ("annotator", "reviewer", "manager"):
        connected, _, messages = connect(job.case_id, people[who])
        assert connected
        assert messages == [{"type": "job", **job.as_event()}]


def test_live_updates_reach_the_browser(job, people):
    headers = _headers(people["annotator"])

    async def run():
        comm = WebsocketCommunicator(
            application, f"/ws/cases/{job.case_id}/progress", headers=headers
        )
        assert (await comm.connect())[0]
        await comm.receive_json_from()  # snapshot

        def advance():
            job.done = 5
            job.save()
            progress.publish(job)

        from channels.db import database_sync_to_async

        await database_sync_to_async(advance)()
        update = await comm.receive_json_from(timeout=3)
        await comm.send_json_to({"type": "ping"})
        pong = None
        while pong is None or pong.get("type") != "pong":
            pong = await comm.receive_json_from(timeout=3)
        await comm.disconnect()
        return update

    update = async_to_sync(run)()
    assert update["done"] == 5 and update["total"] == 9 and update["status"] == "running"


def _watch_then(job, user, change):
    """Connect as `user`, read the snapshot, apply `change` (sync, e.g. a membership removal),
    publish an update of the job; what the socket gets next."""
    headers = _headers(user)

    async def run():
        from channels.db import database_sync_to_async

        comm = WebsocketCommunicator(
            application, f"/ws/cases/{job.case_id}/progress", headers=headers
        )
        assert (await comm.connect())[0]
        await comm.receive_json_from()  # snapshot

        def act():
            change()
            job.done = 7
            job.save()
            progress.publish(job)

        await database_sync_to_async(act)()
        output = await comm.receive_output(timeout=3)
        await comm.disconnect()
        return output

    return async_to_sync(run)()


def test_a_member_removed_from_the_project_gets_no_more_updates(job, people):
    """Issue #17 item 4: access was checked only at connect."""
    from annotator.projects.models import Membership
    from annotator.projects.services import remove_member

    membership = Membership.objects.get(project=job.case.project, user=people["manager"])
    output = _watch_then(
        job, people["manager"], lambda: remove_member(membership, actor=people["admin"])
    )
    assert output == {"type": "websocket.close", "code": 4403}


def test_a_deactivated_user_gets_no_more_updates(job, people):
    def deactivate():
        people["reviewer"].is_active = False
        people["reviewer"].save()

    output = _watch_then(job, people["reviewer"], deactivate)
    assert output == {"type": "websocket.close", "code": 4403}


def test_a_member_who_keeps_access_keeps_receiving(job, people):
    output = _watch_then(job, people["manager"], lambda: None)
    assert output["type"] == "websocket.send" and '"done": 7' in output["text"]
