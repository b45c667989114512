"""manage.py load_demo: users with roles, two projects, prompted synthetic cases; idempotent."""

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotator.annotations.models import Target
from annotator.cases.models import Case, CaseStatus
from annotator.cases.selectors import load_volume
from annotator.projects.models import Project
from annotator.projects.policy import roles

pytestmark = pytest.mark.django_db(transaction=True)


def test_load_demo_creates_a_usable_demo_and_can_run_again(capsys, tmp_path):
    samples = tmp_path / "demo-import"
    call_command("load_demo", ct_cases=1, echo_cases=1, password="pw-demo", samples=samples)
    User = get_user_model()
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.check_password("pw-demo")
    ct = Project.objects.get(slug="demo-ct-lesions")
    echo = Project.objects.get(slug="demo-echo-lv")
    assert (ct.kind, ct.modality, echo.kind, echo.modality) == ("volume", "CT", "video", "US")
    for role in ("manager", "annotator", "reviewer"):
        user = User.objects.get(username=role)
        assert role in roles(user, ct) and role in roles(user, echo)

    ct_case, echo_case = Case.objects.get(project=ct), Case.objects.get(project=echo)
    # No production model in this test: nothing to pre-segment, so the cases are ready.
    assert ct_case.status == echo_case.status == CaseStatus.READY
    assert ct_case.image.kind == "volume" and echo_case.image.frame_rate == 30.0
    volume = load_volume(ct_case.image)
    assert volume.shape == (64, 256, 256) and volume.dtype == np.int16
    targets = list(Target.objects.filter(case=ct_case).order_by("pk"))
    assert len(targets) == 2 and all(t.label == "lesion" and len(t.box) == 4 for t in targets)
    # The prompt box sits on a slice where the (bright or dark) lesion differs from the liver.
    t = targets[0]
    x0, y0, x1, y1 = (int(v) for v in t.box)
    inside = volume[t.key_index, y0:y1, x0:x1]
    assert inside.std() > 15
    assert Target.objects.filter(case=echo_case, label="left ventricle").count() == 1
    assert "demo sign-ins" in capsys.readouterr().out

    call_command("load_demo", ct_cases=1, echo_cases=1, password="other", samples=samples)
    assert Case.objects.count() == 2 and Target.objects.count() == 3
    assert User.objects.get(username="admin").check_password("pw-demo")  # kept
    assert "already there" in capsys.readouterr().out


def test_the_readme_import_example_works_on_the_demo(capsys, tmp_path):
    """README: `.venv/bin/python manage.py import_cases var/demo-import --project demo-ct-lesions
    --targets var/demo-import-targets.csv` after the demo, with the files load_demo writes."""
    samples = tmp_path / "demo-import"
    call_command("load_demo", ct_cases=0, echo_cases=0, samples=samples)
    assert sorted(p.name for p in samples.iterdir()) == [
        "ct-sample-01.nii.gz",
        "ct-sample-02.nii.gz",
    ]
    capsys.readouterr()
    call_command(
        "import_cases", str(samples), project="demo-ct-lesions",
        targets=str(tmp_path / "demo-import-targets.csv"), no_progress=True,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "2 case(s), 4 target(s) imported into demo-ct-lesions" in out
    ct = Project.objects.get(slug="demo-ct-lesions")
    assert Target.objects.filter(case__project=ct).count() == 4
    call_command("import_cases", str(samples), project="demo-ct-lesions", no_progress=True)
    assert "0 case(s)" in capsys.readouterr().out  # a second run finds them there


def test_an_unknown_slug_lists_the_projects(tmp_path):
    from django.core.management.base import CommandError

    Project.objects.create(name="Liver", slug="liver-ct", kind="volume", modality="CT")
    Project.objects.create(name="Echo", slug="echo", kind="video", modality="US")
    with pytest.raises(CommandError, match="no project with slug 'liver'; the projects are: "
                       "echo, liver-ct"):  # fmt: skip
        call_command("import_cases", str(tmp_path), project="liver")
