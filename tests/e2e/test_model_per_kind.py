"""A model per kind of image, in Chromium: an admin starts a round of echo clips only from the
rounds page and rolls echo's production model back from the models page, while CT keeps its
model. Assertions are on the database the live stack writes."""

from __future__ import annotations

import pytest
from django.db import connection

from annotator.modelops.models import TrainingRound
from annotator.registry.selectors import production_model
from tests import factories
from tests.modelops.helpers import blob_case

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the live stack needs PostgreSQL"),
]


def test_an_echo_round_and_an_echo_rollback_from_the_pages(
    web, browse, people, project, artifacts, tmp_path
):
    who = (people["annotator"], people["reviewer"])
    echo = [blob_case(project, *who, seed=10 + s, kind="video")[0] for s in range(3)]
    for s in range(2):
        blob_case(project, *who, seed=s)
    general = factories.tiny_model_version(tmp_path, project=project, seed=1)

    admin = browse(people["admin"])
    admin.use_session()
    page = admin.page
    page.goto(f"{web.url}/projects/{project.pk}/rounds/")
    assert page.locator("select[name=kind] option").all_inner_texts() == [
        "every kind (one model)",
        "CT only",
        "echo only",
    ]
    page.select_option("select[name=kind]", "echo")
    page.click("text=Start round")
    page.wait_for_selector("#rounds [data-kind='echo']")
    page.screenshot(path=str(artifacts / "rounds-per-kind.png"), full_page=True)
    assert page.locator("[data-new-by-kind]").inner_text() == "CT 2 · echo 0"
    round_ = TrainingRound.objects.get(project=project)
    assert (round_.kind, round_.base_model_id) == ("echo", general.pk)
    assert set(round_.snapshot.entries.values_list("case_id", flat=True)) == {c.pk for c in echo}

    first = factories.tiny_model_version(tmp_path, project=project, seed=2, kind="echo")
    second = factories.tiny_model_version(tmp_path, project=project, seed=3, kind="echo")
    page.goto(f"{web.url}/projects/{project.pk}/models/")
    assert page.locator("[data-serves]").all_inner_texts() == [
        "(serves echo)",
        "(serves the other kinds)",
    ]
    page.select_option("select[name=kind]", "echo")
    page.click("text=Roll back production to the model it replaced")
    page.wait_for_selector(f"text=Production is back to {first.name}.")
    page.screenshot(path=str(artifacts / "models-per-kind.png"), full_page=True)
    assert production_model(project, "echo") == first != second
    assert production_model(project, "ct") == general
    assert admin.errors == []
