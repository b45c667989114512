"""Compute the per-target outcome rows the metrics aggregate (backfill, or after a fix)."""

from django.core.management.base import BaseCommand, CommandError

from annotator.metrics import services
from annotator.projects.models import Project


class Command(BaseCommand):
    help = (
        "Compute outcomes (time, AI quality, rework) of accepted targets that have none yet; "
        "--all recomputes every reviewed target."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", help="project slug (default: every project)")
        parser.add_argument("--all", action="store_true", help="recompute existing outcomes too")

    def handle(self, *args, **options):
        project = None
        if options["project"]:
            try:
                project = Project.objects.get(slug=options["project"])
            except Project.DoesNotExist as exc:
                raise CommandError(f"no project with slug {options['project']!r}") from exc

        def progress(done: int, total: int) -> None:
            if done == total or done % 100 == 0:
                self.stdout.write(f"{done}/{total}")

        stored = services.backfill_outcomes(
            project, missing_only=not options["all"], progress=progress
        )
        self.stdout.write(self.style.SUCCESS(f"{stored} outcome(s) recorded"))
