"""Server-rendered pages: sign-in, projects, worklist, next case, review queue, the manager's
project page, and the page that hosts the viewer."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from annotator.annotations.models import Assignment, Review
from annotator.cases.models import CaseStatus
from annotator.web import vite
from tests import factories


@pytest.fixture
def login():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def manifest(tmp_path, settings):
    path = tmp_path / "manifest.json"
    path.write_text(
        json.dumps(
            {
                "src/main.js": {
                    "file": "assets/main-abc123.js",
                    "css": ["assets/main-def456.css"],
                    "imports": ["_shared.js"],
                    "isEntry": True,
                },
                "_shared.js": {"file": "assets/shared-999.js"},
            }
        )
    )
    settings.VIEWER_MANIFEST = str(path)
    return path


def test_pages_need_sign_in(client, db):
    for url in ["/", "/worklist/", "/review/", "/cases/1/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_sign_in_form(client, people):
    assert client.get("/login/").status_code == 200
    bad = client.post("/login/", {"username": "annotator", "password": "wrong"})
    assert bad.status_code == 200 and b"didn't match" in bad.content
    good = client.post("/login/", {"username": "annotator", "password": factories.PASSWORD})
    assert good.status_code == 302 and good["Location"] == "/"


def test_home_lists_my_projects_with_roles(login, people, project, other_project):
    response = login(people["annotator"]).get("/")
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r["project"].slug for r in rows] == ["liver"]
    assert rows[0]["roles"] == ["annotator"] and rows[0]["to_review"] is None
    assert response.context["annotates"] and b'id="next-case"' in response.content
    manager_page = login(people["manager"]).get("/")
    assert manager_page.context["rows"][0]["is_manager"]
    assert b'id="next-case"' not in manager_page.content  # managers do not annotate here


def test_worklist_filters_and_shows_the_rejection_comment(login, people, project):
    me = people["annotator"]
    todo = factories.case(project, assignee=me)
    rejected = factories.case(project, assignee=me, status=CaseStatus.REJECTED)
    done = factories.case(project, assignee=me, status=CaseStatus.ACCEPTED)
    factories.case(project, assignee=people["annotator2"])  # someone else's
    t = factories.target(rejected)
    Review.objects.create(
        target=t, reviewer=people["reviewer"], decision="reject", comment="missed the rim"
    )
    client = login(me)
    ids = lambda r: {c.pk for c in r.context["cases"]}  # noqa: E731
    assert ids(client.get("/worklist/")) == {todo.pk, rejected.pk}
    assert ids(client.get("/worklist/?status=accepted")) == {done.pk}
    assert ids(client.get("/worklist/?status=all")) == {todo.pk, rejected.pk, done.pk}
    assert ids(client.get("/worklist/?status=bogus")) == {todo.pk, rejected.pk}
    page = client.get("/worklist/?status=rejected")
    assert b"missed the rim" in page.content
    counts = {f["name"]: f["count"] for f in page.context["filters"]}
    assert counts["todo"] == 2 and counts["all"] == 3


def test_next_case_opens_my_queue_then_claims_then_says_done(login, people, project):
    me = people["annotator"]
    mine = factories.case(project, assignee=me)
    unclaimed = factories.case(project)
    client = login(me)
    assert client.post("/next/")["Location"] == f"/cases/{mine.pk}/"
    mine.status = CaseStatus.SUBMITTED
    mine.save()
    assert client.post("/next/")["Location"] == f"/cases/{unclaimed.pk}/"
    assert Assignment.objects.get(case=unclaimed, active=True).annotator == me
    unclaimed.status = CaseStatus.SUBMITTED
    unclaimed.save()
    response = client.post("/next/", follow=True)
    assert response.redirect_chain[-1][0] == "/worklist/"
    assert b"Nothing left in your queue" in response.content
    assert client.get("/next/").status_code == 405


def test_review_queue_shows_submitted_cases_i_did_not_annotate(login, people, project):
    submitted = factories.case(project, assignee=people["annotator"], status=CaseStatus.SUBMITTED)
    factories.case(project, assignee=people["annotator"], status=CaseStatus.IN_PROGRESS)
    own = factories.case(project, assignee=people["reviewer"], status=CaseStatus.SUBMITTED)
    Assignment.objects.filter(case=own).update(active=True)
    cases = login(people["reviewer"]).get("/review/").context["cases"]
    assert [c.pk for c in cases] == [submitted.pk]
    assert login(people["annotator"]).get("/review/").context["cases"] == []


def test_project_page_is_for_managers(login, people, project):
    factories.case(project, assignee=people["annotator"], status=CaseStatus.IN_PROGRESS)
    factories.case(project)
    response = login(people["manager"]).get(f"/projects/{project.pk}/")
    assert response.status_code == 200
    progress = {p["status"]: p["count"] for p in response.context["progress"]}
    assert progress["in_progress"] == 1 and progress["ready"] == 1
    annotators = {a.username: a.open for a in response.context["annotators"]}
    assert annotators == {"annotator": 1, "annotator2": 0}
    filtered = login(people["manager"]).get(f"/projects/{project.pk}/?status=ready")
    assert len(filtered.context["cases"]) == 1
    assert login(people["annotator"]).get(f"/projects/{project.pk}/").status_code == 403
    assert login(people["outsider"]).get(f"/projects/{project.pk}/").status_code == 404


def test_manager_assigns_cases(login, people, project):
    a, b = factories.case(project), factories.case(project)
    locked = factories.case(project, assignee=people["annotator"], status=CaseStatus.SUBMITTED)
    client = login(people["manager"])
    response = client.post(
        f"/projects/{project.pk}/assign",
        {"annotator": "annotator2", "cases": [a.pk, b.pk, locked.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert "Assigned 2 case(s) to annotator2" in text and "cannot be reassigned" in text
    assert Assignment.objects.filter(annotator=people["annotator2"], active=True).count() == 2
    missing = client.post(f"/projects/{project.pk}/assign", {"annotator": "nobody"}, follow=True)
    assert b"Choose an annotator" in missing.content
    refused = login(people["annotator"]).post(
        f"/projects/{project.pk}/assign", {"annotator": "annotator", "cases": [a.pk]}
    )
    assert refused.status_code == 403


def test_viewer_page_loads_the_build_and_passes_the_case(login, people, project, manifest):
    case = factories.case(project, assignee=people["annotator"])
    target = factories.target(case)
    response = login(people["annotator"]).get(f"/cases/{case.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script type="module" src="/static/viewer/assets/main-abc123.js">' in html
    assert "/static/viewer/assets/main-def456.css" in html
    assert 'rel="modulepreload" href="/static/viewer/assets/shared-999.js"' in html
    config = response.context["config"]
    assert config["mode"] == "annotate" and config["caseId"] == case.pk
    assert config["case"]["image"]["shape"] == case.image.shape
    assert [t["id"] for t in config["targets"]] == [target.pk]
    assert config["labels"] == ["lesion", "cyst"] and config["csrfToken"]


def test_large_volumes_open_with_their_key_slice_preloaded(
    login, people, project, manifest, monkeypatch
):
    from annotator.web import views

    small = factories.case(project, assignee=people["annotator"])  # 32×24×8 voxels
    factories.target(small, key_index=5)
    response = login(people["annotator"]).get(f"/cases/{small.pk}/")
    assert response.context["config"]["previewSlice"] is None
    assert b"image?slice=" not in response.content

    monkeypatch.setattr(views, "PREVIEW_MIN_VOXELS", 1000)  # now 32×24×8 counts as large
    response = login(people["annotator"]).get(f"/cases/{small.pk}/")
    assert response.context["config"]["previewSlice"] == 5  # the first target's key slice
    assert f'href="/api/v1/cases/{small.pk}/image?slice=5" as="fetch"'.encode() in response.content
    bare = factories.case(project, assignee=people["annotator"])
    assert (
        login(people["annotator"]).get(f"/cases/{bare.pk}/").context["config"]["previewSlice"] == 4
    )  # no target yet: the middle slice
    clip = factories.case(project, assignee=people["annotator"])
    clip.image.kind = "video"
    clip.image.save()
    assert (
        login(people["annotator"]).get(f"/cases/{clip.pk}/").context["config"]["previewSlice"]
        is None
    )  # a clip is loaded whole


@pytest.mark.parametrize(
    ("who", "status", "mode"),
    [
        ("annotator", CaseStatus.IN_PROGRESS, "annotate"),
        ("annotator", CaseStatus.REJECTED, "annotate"),
        ("annotator", CaseStatus.SUBMITTED, "view"),
        ("reviewer", CaseStatus.SUBMITTED, "review"),
        ("reviewer", CaseStatus.IN_PROGRESS, "view"),
        ("manager", CaseStatus.IN_PROGRESS, "view"),
        ("admin", CaseStatus.SUBMITTED, "review"),
        ("admin", CaseStatus.IN_PROGRESS, "annotate"),
    ],
)
def test_viewer_mode(login, people, project, manifest, who, status, mode):
    case = factories.case(project, assignee=people["annotator"], status=status)
    response = login(people[who]).get(f"/cases/{case.pk}/")
    assert response.context["config"]["mode"] == mode


def test_viewer_page_explains_a_missing_build(login, people, project, settings, tmp_path):
    settings.VIEWER_MANIFEST = str(tmp_path / "absent.json")
    case = factories.case(project, assignee=people["annotator"])
    response = login(people["annotator"]).get(f"/cases/{case.pk}/")
    assert response.status_code == 200 and b"npm ci &amp;&amp; npm run build" in response.content
    assert login(people["outsider"]).get(f"/cases/{case.pk}/").status_code == 404


def test_manifest_without_the_entry_is_reported(manifest):
    manifest.write_text("{}")
    with pytest.raises(vite.ViewerNotBuilt, match="missing"):
        vite.entry_assets()
