"""python manage.py import_cases --project SLUG PATH... [--targets file.csv]"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotator.cases import importing
from annotator.core.errors import DomainError
from annotator.projects.models import Project


class Command(BaseCommand):
    help = (
        "Import studies into a project: DICOM folders or zips, NIfTI (.nii/.nii.gz), multi-frame "
        "DICOM. Nothing is kept if any input is rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--targets", type=Path, help="CSV: case,label,key_index,x0,y0,x1,y1")
        parser.add_argument("--user", help="username recorded as the importer")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            slugs = list(Project.objects.order_by("slug").values_list("slug", flat=True))
            raise CommandError(
                f"no project with slug {opts['project']!r}; "
                + (
                    f"the projects are: {', '.join(slugs)}"
                    if slugs
                    else "there is no project yet (bash deploy/run-demo.sh loads two demo ones)"
                )
            )
        paths = [Path(p) for p in opts["paths"]]
        targets = Path(opts["targets"]) if opts["targets"] else None
        missing = [str(p) for p in paths if not p.exists()]
        if targets is not None and not targets.is_file():
            missing.append(str(targets))
        if missing:
            raise CommandError(f"not found: {', '.join(missing)}")
        actor = None
        if opts["user"]:
            actor = get_user_model().objects.filter(username=opts["user"]).first()
            if actor is None:
                raise CommandError(f"no user {opts['user']!r}")
        bar = tqdm(total=0, unit="file", disable=opts["no_progress"], file=self.stderr._out)

        def progress(done: int, total: int, message: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_description(message[:40])
            bar.refresh()

        try:
            report = importing.import_paths(
                project, paths, actor=actor, targets_csv=targets, progress=progress
            )
        except DomainError as exc:
            raise CommandError(f"import rejected, nothing was kept: {exc.message}") from exc
        finally:
            bar.close()
        for case in report.cases:
            self.stdout.write(f"imported {case.study_id} (case {case.pk})")
        for note in report.skipped:
            self.stdout.write(f"skipped {note}")
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(report.cases)} case(s), {report.targets} target(s) imported into "
                f"{project.slug}; {len(report.skipped)} skipped"
            )
        )
