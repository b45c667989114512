"""A target's own intensity window: from the targets CSV and the API, checked, and the window its
pre-segmentation uses (the same rule serves round training and evaluation)."""

from __future__ import annotations

from django.core.management import call_command

from annotator.annotations.models import Target
from annotator.annotations.selectors import target_window
from tests import factories
from tests.cases.test_import import series


def test_csv_windows_become_the_targets_windows(project, tmp_path):
    folder = series(tmp_path / "lungs", n=8)
    csv = tmp_path / "t.csv"
    csv.write_text(
        "case,label,key_index,x0,y0,x1,y1,window_center,window_width\n"
        "lungs,lesion,4,6,6,20,20,-750,1500\n"
        "lungs,cyst,2,6,6,20,20,,\n"
    )
    call_command("import_cases", str(folder), project="liver", targets=str(csv), no_progress=True)
    lesion, cyst = Target.objects.order_by("id")
    assert lesion.window == [-750.0, 1500.0] and target_window(lesion) == (-750.0, 1500.0)
    assert cyst.window is None
    image = cyst.case.image  # the series' own window
    assert target_window(cyst) == (image.window_center, image.window_width) != (-750.0, 1500.0)


def test_the_window_rule_option_then_target_then_project_then_image(project, people):
    case = factories.case(project, assignee=people["annotator"])
    target = factories.target(case)
    assert target_window(target) is None  # nothing set anywhere: the modality's own rule
    project.default_window = "abdomen"
    project.save(update_fields=["default_window"])
    target = Target.objects.get(pk=target.pk)
    assert target_window(target) == "abdomen"
    target.window = [-750, 1500]
    assert target_window(target) == (-750.0, 1500.0)
    assert target_window(target, {"window": "bone"}) == "bone"  # a re-run asked for another


def test_the_api_takes_checks_and_clears_a_targets_window(project, people, client_for):
    case = factories.case(project, assignee=people["annotator"])
    api = client_for(people["annotator"])
    url = f"/api/v1/cases/{case.pk}/targets/"
    made = api.post(
        url, {"label": "lesion", "key_index": 3, "box": [2, 2, 10, 10], "window": "Lung"},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.data
    assert made.data["window"] == "lung"
    for bad in ("sunset", [40, 0], [40], "x" * 200):
        refused = api.post(
            url, {"label": "lesion", "key_index": 3, "box": [2, 2, 10, 10], "window": bad},
            format="json",
        )  # fmt: skip
        assert refused.status_code == 400 and refused.data["code"] == "invalid_window", bad
    assert Target.objects.filter(case=case).count() == 1  # nothing half-made
    target = f"/api/v1/targets/{made.data['id']}/"
    changed = api.patch(target, {"key_index": 3, "box": [2, 2, 10, 10], "window": [40, 400]},
                        format="json")  # fmt: skip
    assert changed.status_code == 200 and changed.data["window"] == [40.0, 400.0]
    kept = api.patch(target, {"key_index": 4, "box": [2, 2, 10, 10]}, format="json")
    assert kept.data["window"] == [40.0, 400.0] and kept.data["key_index"] == 4
    cleared = api.patch(target, {"key_index": 4, "box": [2, 2, 10, 10], "window": None},
                        format="json")  # fmt: skip
    assert cleared.data["window"] is None
    reviewer = client_for(people["reviewer"])
    assert reviewer.patch(
        target, {"key_index": 4, "window": "lung"}, format="json"
    ).status_code in (
        403,
        404,
    )
    assert Target.objects.get(pk=made.data["id"]).window is None
