"""The import page (issue #16 item 6): a manager uploads a folder of NIfTI volumes and a broken
file; the folder's cases are imported, the broken file is refused with its reason, and the API
has exactly the imported cases."""

from __future__ import annotations

import numpy as np
import pytest

from tests import factories
from tests.e2e.conftest import wait_js
from tests.e2e.scenes import blob_volume

pytestmark = [pytest.mark.e2e]


def test_upload_a_folder_and_see_a_refusal(web, browse, api_for, people, project, artifacts,
                                           tmp_path):  # fmt: skip
    folder = tmp_path / "study-batch"
    folder.mkdir()
    for i in range(2):
        volume = blob_volume() + np.int16(i)  # two different series
        (folder / f"scan-{i + 1}.nii.gz").write_bytes(factories.nifti_bytes(volume))
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"\x1f\x8b" + b"not a gzip stream at all" * 10)
    api = api_for(people["manager"])
    before = api.json(f"/projects/{project.pk}/cases/")["count"]

    me = browse(people["manager"])
    me.use_session()
    me.page.goto(f"{web.url}/projects/{project.pk}/")
    me.page.click("[data-action=import]")
    page = me.page
    page.wait_for_url(f"{web.url}/projects/{project.pk}/import/")
    assert page.locator("[data-slug]").inner_text() == project.slug
    page.set_input_files("input[data-folder]", str(folder))
    page.set_input_files("input[data-files]", str(broken))
    assert page.locator("tr[data-upload]").count() == 2
    page.click("[data-start]")
    finished = (
        "[...document.querySelectorAll('tr[data-upload]')]"
        ".every((r) => r.dataset.state === 'done' || r.dataset.state === 'refused')"
    )
    wait_js(page, finished, 120_000)
    page.screenshot(path=artifacts / "import-page.png", full_page=True)

    done = page.locator("tr[data-upload='study-batch/']")
    assert done.get_attribute("data-state") == "done"
    assert done.locator("[data-created]").get_attribute("data-created") == "2"
    refused = page.locator("tr[data-upload='broken.nii.gz']")
    assert refused.get_attribute("data-state") == "refused"
    reason = refused.locator("[data-refused]").inner_text()
    assert "broken.nii.gz" in reason and "Nothing from this upload was kept" in reason
    # the data: exactly the folder's two cases, linked from the page
    cases = api.json(f"/projects/{project.pk}/cases/")
    assert cases["count"] == before + 2
    links = done.locator("a").evaluate_all("(as) => as.map((a) => a.textContent)")
    assert sorted(links) == sorted(c["study_id"] for c in cases["results"])[-2:] or set(links) <= {
        c["study_id"] for c in cases["results"]
    }
    assert not me.errors, me.errors
