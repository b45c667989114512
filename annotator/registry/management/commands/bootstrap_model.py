"""python manage.py bootstrap_model [--steps N] [--if-missing] [--queue] [--follow] [--promote]
[--override REASON]

Trains the starter model (reduced SAM2.1, random start) on synthetic phantoms on the CPU for a
fixed number of steps (default: inference.bootstrap.DEFAULT_STEPS, whatever the machine's load),
prints its held-out Dice per kind, and registers it as a model version with origin "bootstrap"
(production when no production model exists yet, if its held-out Dice clears the quality floor;
else it stays a candidate and the command says why). A starter model is for demos, not for
patients.

--if-missing keeps a registered starter that clears the floor, resumes an unfinished run, and
trains a new one when none is registered or the latest is below the floor. --queue trains on a
worker consuming the `training` queue instead of here (progress on the models page); --follow
then prints a progress line every 30 s until it ends. The training's progress is on the models
page in either case.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotator.registry import starter
from annotator.registry.models import StarterStatus
from annotator.registry.registration import registered_line
from annotator.registry.selectors import describe_starter


class Command(BaseCommand):
    help = "Train the starter model on synthetic phantoms and register it."

    def add_arguments(self, parser):
        from inference.bootstrap import DEFAULT_STEPS

        parser.add_argument(
            "--steps", type=int, default=DEFAULT_STEPS, help=f"training steps ({DEFAULT_STEPS})"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--config", help="model config (default: the starter config)")
        parser.add_argument(
            "--heldout", type=int, default=8, help="held-out phantoms per kind for the Dice"
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="keep a registered starter that clears the quality floor; resume an "
            "unfinished run",
        )
        parser.add_argument(
            "--queue", action="store_true", help="train on a worker (the training queue)"
        )
        parser.add_argument(
            "--follow", action="store_true", help="with --queue: print progress until it ends"
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
        from inference.model import STARTER, config_path

        if opts["steps"] < 1:
            raise CommandError("--steps must be positive")
        if opts["heldout"] < 1:
            raise CommandError("--heldout must be at least 1")
        try:
            config_path(opts["config"] or STARTER)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        run_settings = {
            "config": opts["config"] or STARTER,
            "steps": opts["steps"],
            "seed": opts["seed"],
            "heldout": opts["heldout"],
            "promote": opts["promote"],
            "override": opts["override"],
        }
        if opts["if_missing"]:
            run, why = starter.ensure(run_settings)
            self.stdout.write(why)
            if run is None:
                return
        else:
            busy = starter.active_run()
            if busy is not None:
                raise CommandError(
                    f"starter run {busy.pk} is unfinished (step {busy.step}/{busy.total}): "
                    "rerun with --if-missing to resume it"
                )
            run = starter.create(run_settings, reason="asked for (bootstrap_model)")
        if opts["queue"]:
            starter.enqueue(run)
            self.stdout.write(
                f"starter run {run.pk} queued on the training queue ({run.total} steps); "
                "progress on the models page"
            )
            if opts["follow"]:
                starter.follow(run.pk, self.stdout.write)
            return
        done = starter.run(run.pk, log_line=self.stdout.write)
        if done == starter.BUSY:
            raise CommandError(f"starter run {run.pk} is being trained by another process")
        if done is None or done.status != StarterStatus.DONE or done.version is None:
            raise CommandError(f"starter run {run.pk} did not finish")
        self.stdout.write(
            self.style.SUCCESS(f"{registered_line(done.version)}; {describe_starter(done)}")
        )
