"""manage.py import_dicomweb --project SLUG --source NAME --study UID [--series UID ...]"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotator.core.errors import DomainError
from annotator.pacs import importing
from annotator.pacs.models import JobStatus
from annotator.projects.models import Project


class Command(BaseCommand):
    help = "Import series from a DICOMweb server linked to the project (WADO-RS), like a file."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--source", required=True, help="DICOMweb server name")
        parser.add_argument("--study", required=True, help="StudyInstanceUID")
        parser.add_argument(
            "--series",
            action="append",
            help="SeriesInstanceUID (repeatable; default: every series of the study)",
        )
        parser.add_argument("--user", help="record the import as this user")

    def handle(self, *args, **opts):
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"no project {opts['project']!r}")
        actor = None
        if opts["user"]:
            actor = get_user_model().objects.filter(username=opts["user"]).first()
            if actor is None:
                raise CommandError(f"no user {opts['user']!r}")
        try:
            jobs = importing.request_import(
                actor, project, opts["source"], opts["study"], opts["series"], queue=False
            )
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None
        failed = 0
        for job in jobs:
            bar = tqdm(
                total=job.total or 1,
                unit="inst",
                desc=job.series_uid[-12:],
                disable=not self.stdout.isatty(),
            )

            def progress(done, total, stage, bar=bar):
                bar.total = max(total, 1)
                bar.n = done
                bar.set_postfix_str(stage)
                bar.refresh()

            job = importing.run_import(job.pk, progress=progress)
            bar.close()
            if job.status == JobStatus.FAILED:
                failed += 1
                self.stderr.write(f"failed {job.series_uid}: {job.message}")
            elif job.status == JobStatus.SKIPPED:
                self.stdout.write(f"skipped {job.series_uid}: {job.message}")
            else:
                self.stdout.write(
                    f"imported {job.series_uid} as {job.case.study_id} "
                    f"(case {job.case_id}), {job.total} instances"
                )
                for note in job.report.get("notes", []):
                    self.stdout.write(f"note: {note}")
        if failed:
            raise CommandError(f"{failed} of {len(jobs)} series failed; nothing of them was kept")
