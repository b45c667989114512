"""python manage.py fetch_medsam2 [--variant latest|ct_lesion|mri_liver|us_heart] [--kind KIND]

Downloads the published MedSAM2 weights from Hugging Face (wanglab/MedSAM2) into the model
store, checks they load, and registers them as a model version: for every kind of image, or with
``--kind`` for one (``--variant us_heart --kind echo``: the heart checkpoint serves echo clips,
the version for every kind the rest). Published weights come with no
held-out figures of ours, so they stay a candidate (the quality floor, docs/inference.md) until an
admin promotes them with a written reason: `--promote --override "<reason>"` here, or the
models page.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotator.projects.models import Project
from annotator.registry import quality
from annotator.registry.models import ModelOrigin
from annotator.registry.registration import register_from_command, registered_line


class Command(BaseCommand):
    help = "Download published MedSAM2 weights and register them as a model version."

    def add_arguments(self, parser):
        from inference.fetch import VARIANTS

        parser.add_argument("--variant", default="latest", choices=sorted(VARIANTS))
        parser.add_argument("--base-url", help="mirror of the Hugging Face repo")
        parser.add_argument("--project", help="register for this project only (slug)")
        parser.add_argument(
            "--kind",
            default="",
            choices=["", *quality.KINDS],
            help="serve this kind of image only (default: every kind)",
        )
        parser.add_argument(
            "--promote", action="store_true", help="make it production even if one exists"
        )
        parser.add_argument(
            "--override",
            default="",
            metavar="REASON",
            help="promote it although it has no held-out figures; the reason is audited",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        from inference.fetch import FetchError, fetch_weights
        from inference.model import MEDSAM2

        project = None
        if opts["project"]:
            project = Project.objects.filter(slug=opts["project"]).first()
            if project is None:
                raise CommandError(f"no project {opts['project']!r}")
        bar = tqdm(unit="B", unit_scale=True, disable=opts["no_progress"], file=self.stderr._out)

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        downloads = Path(settings.MODEL_STORE) / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=downloads) as tmp:
            try:
                fetched = fetch_weights(
                    opts["variant"], tmp, base_url=opts["base_url"], progress=progress
                )
            except FetchError as exc:
                raise CommandError(str(exc)) from exc
            finally:
                bar.close()
            suffix = f" ({quality.KIND_NAMES[opts['kind']]})" if opts["kind"] else ""
            version = register_from_command(
                fetched.path,
                name=f"MedSAM2 {opts['variant']}{suffix}",
                kind=opts["kind"],
                origin=ModelOrigin.PUBLISHED,
                config=MEDSAM2,
                metrics=quality.metrics({}, source="none", file=fetched.path.name),
                reason="fetch_medsam2",
                project=project,
                promote=opts["promote"],
                override=opts["override"],
            )
        self.stdout.write(self.style.SUCCESS(registered_line(version)))
