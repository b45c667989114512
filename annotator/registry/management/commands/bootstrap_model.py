"""python manage.py bootstrap_model [--minutes 12] [--if-missing] [--promote] [--override REASON]

Trains the starter model (reduced SAM2.1, random start) on synthetic phantoms on the CPU,
prints its held-out Dice per kind, and registers it as a model version with origin "bootstrap"
(production when no production model exists yet, if its held-out Dice clears the quality floor;
else it stays a candidate and the command says why). A starter model is for demos, not for
patients.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotator.registry import quality
from annotator.registry.models import ModelOrigin, ModelVersion
from annotator.registry.registration import register_from_command, registered_line


class Command(BaseCommand):
    help = "Train the starter model on synthetic phantoms and register it."

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=float, default=12.0, help="training time budget")
        parser.add_argument("--steps", type=int, help="train exactly this many steps instead")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--config", help="model config (default: the starter config)")
        parser.add_argument(
            "--heldout", type=int, default=8, help="held-out phantoms per kind for the Dice"
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="do nothing when a bootstrap model is already registered",
        )
        parser.add_argument(
            "--promote", action="store_true", help="make it production even if one exists"
        )
        parser.add_argument(
            "--override",
            default="",
            metavar="REASON",
            help="promote it even below the quality floor; the reason is audited",
        )

    def handle(self, *args, **opts):
        from inference.bootstrap import BootstrapSettings, bootstrap
        from inference.model import STARTER, config_path
        from inference.phantoms import KINDS

        if opts["minutes"] <= 0 or (opts["steps"] is not None and opts["steps"] < 1):
            raise CommandError("--minutes and --steps must be positive")
        if opts["heldout"] < 1:
            raise CommandError("--heldout must be at least 1")
        try:
            config_path(opts["config"] or STARTER)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        existing = ModelVersion.objects.filter(origin=ModelOrigin.BOOTSTRAP)
        if opts["if_missing"] and existing.exists():
            self.stdout.write("a bootstrap model is already registered; nothing to do")
            return
        settings_ = BootstrapSettings(
            config=opts["config"] or STARTER,
            minutes=opts["minutes"],
            steps=opts["steps"],
            seed=opts["seed"],
            heldout_per_kind=opts["heldout"],
        )
        work = Path(settings.MODEL_STORE) / "bootstrap"
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            out = Path(tmp) / "starter.pt"
            scores = bootstrap(out, settings_, log=lambda m: self.stdout.write(m))
            version = register_from_command(
                out,
                name="Starter (synthetic phantoms, demo only)",
                origin=ModelOrigin.BOOTSTRAP,
                config=settings_.config,
                metrics=quality.metrics(
                    {k: {"dice": scores[k], "n": opts["heldout"]} for k in KINDS if k in scores},
                    source="phantoms",
                    training={
                        "steps": scores.get("steps"),
                        "train_minutes": scores.get("train_minutes"),
                    },
                ),
                reason="bootstrap_model",
                promote=opts["promote"],
                override=opts["override"],
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{registered_line(version)}; held-out Dice: CT lesions {scores.get('ct')}, "
                f"MR lesions {scores.get('mr')}, echo {scores.get('echo')}"
            )
        )
