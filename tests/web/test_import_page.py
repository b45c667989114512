"""The import page for managers (issue #16 item 6) and the slug on project pages."""

from __future__ import annotations

import pytest
from django.test import Client

from tests import factories


@pytest.fixture
def login():
    def make(user=None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.mark.parametrize(
    ("role", "status"),
    [("manager", 200), ("admin", 200), ("annotator", 403), ("reviewer", 403), ("outsider", 404)],
)
def test_the_import_page_is_for_managers(login, people, project, other_project, role, status):
    response = login(people[role]).get(f"/projects/{project.pk}/import/")
    assert response.status_code == status
    if status == 200:
        page = response.content.decode()
        assert f'data-api="/api/v1/projects/{project.pk}/cases/"' in page
        assert "import_cases --project liver" in page  # the CLI with this project's slug
        assert "web/import.js" in page and "webkitdirectory" in page


def test_signed_out_goes_to_sign_in(login, project):
    response = login().get(f"/projects/{project.pk}/import/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_project_and_home_pages_show_the_slug_and_the_import_link(login, people, project):
    factories.case(project)
    page = login(people["manager"]).get(f"/projects/{project.pk}/").content.decode()
    assert "<code data-slug" in page and ">liver</code>" in page
    assert f'href="/projects/{project.pk}/import/"' in page
    home = login(people["annotator"]).get("/").content.decode()
    assert ">liver</code>" in home
