"""python manage.py load_demo [--password PW]

Demo users, two projects (CT liver lesions, echo left ventricle) and synthetic cases with box
prompts, imported through the normal import service (so they are pre-segmented when a production
model and a worker exist). Safe to run again: existing users, projects and cases are kept.

It also writes files to import by hand, not imported yet: two CT NIfTI volumes and their targets
CSV under var/demo-import/ (the README's import_cases example and the import page use them).
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from annotator.cases import importing
from annotator.cases.imaging.targets import TargetRow
from annotator.cases.imaging.volume import ImageVolume
from annotator.projects import services as project_services
from annotator.projects.models import Project, Role

USERS = {  # username: (staff, roles in both demo projects)
    "admin": (True, []),
    "manager": (False, [Role.MANAGER]),
    "annotator": (False, [Role.ANNOTATOR]),
    "annotator2": (False, [Role.ANNOTATOR]),
    "reviewer": (False, [Role.REVIEWER]),
}
PROJECTS = [
    dict(slug="demo-ct-lesions", name="Liver lesions, CT (demo)", kind="volume", modality="CT",
         labels=[{"name": "lesion", "color": "#e6194b"}], default_window="abdomen",
         manual_seconds_per_target=600,
         description="Synthetic CT-like volumes, two lesions each, box prompts on the key slice."),
    dict(slug="demo-echo-lv", name="Left ventricle, echo (demo)", kind="video", modality="US",
         labels=[{"name": "left ventricle", "color": "#3cb44b"}], manual_seconds_per_target=900,
         description="Synthetic echo-like cine clips with a beating left ventricle."),
]  # fmt: skip
CT_CASES, ECHO_CASES = 4, 3
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _fingerprint(name: str) -> str:
    return hashlib.sha256(f"annotator-demo:{name}".encode()).hexdigest()


def ct_volumes(count: int) -> tuple[list[ImageVolume], list[TargetRow]]:
    from inference.phantoms import ct_demo_case

    volumes, rows = [], []
    for i in range(count):
        name = f"demo-ct-{i + 1:02d}.nii.gz"
        array, lesions = ct_demo_case(seed=100 + i)
        sz, sy, sx = lesions[0].spacing_zyx
        volumes.append(ImageVolume(
            array=array, spacing=(sx, sy, sz), origin=(0.0, 0.0, 0.0), direction=IDENTITY,
            modality="CT", kind="volume", frame_rate=None, window=(40.0, 400.0),
            source_format="nifti", fingerprint=_fingerprint(name), source_name=name,
            description=f"CT (synthetic demo), {array.shape[0]} slices",
        ))  # fmt: skip
        rows += [TargetRow(name, "lesion", p.key_index, p.box, line=0) for p in lesions]
    return volumes, rows


def echo_volumes(count: int) -> tuple[list[ImageVolume], list[TargetRow]]:
    from inference.phantoms import echo_clip

    volumes, rows = [], []
    for i in range(count):
        name = f"demo-echo-{i + 1:02d}.dcm"
        p = echo_clip(seed=200 + i, frames=48, size=160)
        sz, sy, sx = p.spacing_zyx
        volumes.append(ImageVolume(
            array=p.image, spacing=(sx, sy, 1.0), origin=(0.0, 0.0, 0.0), direction=IDENTITY,
            modality="US", kind="video", frame_rate=30.0, window=None,
            source_format="dicom-multiframe", fingerprint=_fingerprint(name), source_name=name,
            description=f"US cine (synthetic demo), {p.image.shape[0]} frames",
        ))  # fmt: skip
        rows.append(TargetRow(name, "left ventricle", p.key_index, p.box, line=0))
    return volumes, rows


SAMPLE_CASES = 2


def write_import_samples(folder: Path, count: int = SAMPLE_CASES) -> Path:
    """CT NIfTI volumes (two lesions each) and their targets CSV, to import by hand into
    demo-ct-lesions; kept when already there. Other seeds than the loaded cases, so they import
    as new cases."""
    from annotator.cases.imaging import write_canonical_nifti
    from inference.phantoms import ct_demo_case

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        name = f"ct-sample-{i + 1:02d}"
        array, lesions = ct_demo_case(seed=300 + i, slices=48, size=192)
        sz, sy, sx = lesions[0].spacing_zyx
        path = folder / f"{name}.nii.gz"
        if not path.exists():
            volume = ImageVolume(
                array=array, spacing=(sx, sy, sz), origin=(0.0, 0.0, 0.0), direction=IDENTITY,
                modality="CT", kind="volume", frame_rate=None, window=(40.0, 400.0),
                source_format="nifti", fingerprint=_fingerprint(name), source_name=path.name,
                description="CT (synthetic demo sample)",
            )  # fmt: skip
            write_canonical_nifti(volume, path)
        rows += [[name, "lesion", p.key_index, *(int(round(v)) for v in p.box)] for p in lesions]
    table = folder.parent / f"{folder.name}-targets.csv"  # beside the folder: not an input
    with table.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["case", "label", "key_index", "x0", "y0", "x1", "y1"])
        writer.writerows(rows)
    return folder


class Command(BaseCommand):
    help = "Load demo users, projects and synthetic cases (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="demo-annotator", help="for every demo user")
        parser.add_argument("--ct-cases", type=int, default=CT_CASES)
        parser.add_argument("--echo-cases", type=int, default=ECHO_CASES)
        parser.add_argument(
            "--samples",
            type=Path,
            default=settings.VAR_DIR / "demo-import",
            help="folder for the files to import by hand (var/demo-import)",
        )

    def handle(self, *args, **opts):
        User = get_user_model()
        with transaction.atomic():
            users = {}
            for username, (staff, _) in USERS.items():
                user, created = User.objects.get_or_create(
                    username=username, defaults={"is_staff": staff, "is_superuser": staff}
                )
                if created:
                    user.set_password(opts["password"])
                    user.save()
                users[username] = user
            projects = []
            for spec in PROJECTS:
                project = Project.objects.filter(slug=spec["slug"]).first()
                if project is None:
                    project = project_services.create_project(actor=users["admin"], **spec)
                for username, (_, roles) in USERS.items():
                    for role in roles:
                        project_services.add_member(
                            project, users[username], role, actor=users["admin"]
                        )
                projects.append(project)
        for project, (volumes, rows) in zip(
            projects,
            [ct_volumes(opts["ct_cases"]), echo_volumes(opts["echo_cases"])],
            strict=True,
        ):
            report = importing.import_volumes(
                project, volumes, actor=users["manager"], target_rows=rows
            )
            self.stdout.write(
                f"{project.slug}: {len(report.cases)} case(s) and {report.targets} target(s) "
                f"imported, {len(report.skipped)} already there"
            )
        samples = write_import_samples(opts["samples"])
        self.stdout.write(
            f"files to import by hand: {samples}/ and {samples}-targets.csv (import_cases "
            f"--project {PROJECTS[0]['slug']}, or the project's import page)"
        )
        self.stdout.write(self.style.SUCCESS(
            "demo sign-ins (password for all: " + opts["password"] + "): "
            + ", ".join(f"{u} ({'admin' if s else ', '.join(r)})" for u, (s, r) in USERS.items())
        ))  # fmt: skip
