"""Fine-tuning rounds, asking side: the policy, snapshots of accepted masks, starting, cancelling
and promoting a round. The worker runs it (round_run.py: train → evaluate → gate)."""

from __future__ import annotations

import hashlib
import logging

from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from annotator.annotations.models import RevisionSource, Target
from annotator.audit.services import record
from annotator.cases.models import CaseStatus
from annotator.cases.ordering import evaluation_draw, in_sample
from annotator.core.errors import Conflict, InvalidInput, ServiceUnavailable
from annotator.registry import services
from annotator.registry.quality import KIND_NAMES, check_kind, images_of_kind, kind_of
from annotator.registry.selectors import production_model
from inference.replay import recipe_lr

from . import progress
from .models import (
    ACTIVE_ROUND_STATUSES,
    RoundPolicy,
    RoundStatus,
    RoundTrigger,
    Snapshot,
    SnapshotEntry,
    Split,
    TrainingRound,
)

log = logging.getLogger(__name__)
LR_RANGE = (1e-7, 1e-2)  # accepted per-round learning rates (API, page)
UNOPENED = (Split.PSEUDO, Split.CHECK)  # production's masks of unopened cases, not accepted ones


def policy_for(project) -> RoundPolicy:
    policy, _ = RoundPolicy.objects.get_or_create(project=project)
    return policy


# ---------------------------------------------------------------- snapshot


def accepted_heads(project, kind: str = ""):
    """The accepted mask of every target of the project's accepted cases (of one ``kind`` of
    image, or every kind)."""
    heads = Target.objects.filter(case__project=project, case__status=CaseStatus.ACCEPTED)
    if kind:
        heads = heads.filter(images_of_kind(kind, "case__image__"))
    return (
        heads.exclude(head__isnull=True)
        .select_related("head", "case__image")
        .order_by("case_id", "id")
    )


def _position(project_id: int, case_id: int, purpose: str) -> int:
    """A case's fixed place in [0, 2**64) for ``purpose``: an order independent of the sides."""
    digest = hashlib.sha256(f"{purpose}:{project_id}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def case_split(case_id: int, heldout_fraction: float) -> str:
    """Stable train/held-out assignment of a case: the same case is always on the same side, and
    held out when it is in the evaluation sample that queues following doubt serve whatever
    the doubt (``cases.ordering``, "The evaluation sample"): the held-out set is then a draw
    from the project, not the cases the model doubted most."""
    return Split.HELDOUT if in_sample(case_id, heldout_fraction) else Split.TRAIN


def assign_sides(
    case_ids: list[int],
    earlier: dict[int, str],
    fraction: float,
    strata: dict[int, set],
) -> dict[int, str]:
    """Each case's side: the one it had in an earlier snapshot (``earlier``), else its hashed
    side; only new cases are then moved, nearest the cut first:

    - every *stratum* (a kind of image and label: ``strata`` maps a case to its targets' (kind,
      label) pairs) trains on at least one case: a round must see every kind it is judged on;
    - every stratum with two cases or more is held out at least once: the gate's "no kind
      regresses" says nothing of a kind with no held-out case, and the hash alone leaves a kind
      with four cases out of the held-out set 41% of the time (0.8⁴);
    - both sides are non-empty when there are two cases.

    bench/loop.py splits with this too."""
    sides = {cid: earlier.get(cid) or case_split(cid, fraction) for cid in case_ids}
    new = [cid for cid in case_ids if cid not in earlier]
    members: dict = {}  # stratum: its case ids
    for cid in case_ids:
        for stratum in strata.get(cid, ()):
            members.setdefault(stratum, []).append(cid)

    position = evaluation_draw  # nearest the cut: the sample's draw

    def on(stratum, side: str) -> list[int]:
        return [cid for cid in members[stratum] if sides[cid] == side]

    movable = set(new)
    for stratum in sorted(members):
        if not on(stratum, Split.TRAIN):
            held = [cid for cid in on(stratum, Split.HELDOUT) if cid in movable]
            if held:
                sides[max(held, key=position)] = Split.TRAIN
    trains = {stratum: len(on(stratum, Split.TRAIN)) for stratum in members}
    for stratum in sorted(members):
        if not on(stratum, Split.HELDOUT):
            spare = [  # never the last training case of any of its strata
                cid
                for cid in on(stratum, Split.TRAIN)
                if cid in movable and all(trains[s] > 1 for s in strata[cid])
            ]
            if spare:
                cid = min(spare, key=position)
                sides[cid] = Split.HELDOUT
                for s in strata[cid]:
                    trains[s] -= 1
    fresh = new or case_ids
    if len(case_ids) >= 2 and Split.HELDOUT not in sides.values():
        sides[min(fresh, key=position)] = Split.HELDOUT
    if case_ids and Split.TRAIN not in sides.values():
        sides[max(fresh, key=position)] = Split.TRAIN
    return {cid: Split(side) for cid, side in sides.items()}


def _splits(project, heads: list[Target], fraction: float) -> dict[int, str]:
    case_ids = sorted({t.case_id for t in heads})
    earlier = dict(
        SnapshotEntry.objects.filter(snapshot__project=project, case_id__in=case_ids)
        .exclude(split__in=UNOPENED)  # a case pseudo-labelled or checked then gets a side now
        .order_by("snapshot__created_at", "snapshot_id")
        .values_list("case_id", "split")
    )  # later snapshots overwrite earlier ones in the dict
    strata: dict[int, set] = {}
    for t in heads:
        image = t.case.image
        strata.setdefault(t.case_id, set()).add((kind_of(image.kind, image.modality), t.label))
    return assign_sides(case_ids, earlier, fraction, strata)


def trusted_kinds(figures: dict[str, dict], min_dice: float) -> set[str]:
    """The kinds of data on which a model's held-out Dice (a summary's ``kinds``) reaches
    ``min_dice``: only there are its own masks good enough to train on."""
    return {k for k, f in figures.items() if (f or {}).get("dice") is not None
            and f["dice"] >= min_dice}  # fmt: skip


def pick_pseudo(
    candidates: list[tuple[int, str, float | None]], trusted: set[str], per_kind: int
) -> list[int]:
    """Of ``(case id, kind, uncertainty)`` rows, the case ids to pseudo-label: per trusted kind,
    the ``per_kind`` cases the model is surest of (lowest uncertainty; unknown last; ties by
    case id). bench/loop.py picks with this too."""
    chosen = []
    for kind in sorted(trusted):
        rows = [(u is None, u or 0.0, cid) for cid, k, u in candidates if k == kind]
        chosen += [cid for _, _, cid in sorted(rows)[:per_kind]]
    return sorted(chosen)


def pick_check(
    candidates: list[tuple[int, str, float | None]], taken: set[int], per_kind: int, project_id: int
) -> list[int]:
    """Of ``(case id, kind, uncertainty)`` rows not in ``taken`` (the pseudo-labels), the case ids
    the forgetting check compares the candidate with production on: per kind, ``per_kind`` cases
    in a stable hashed order, whatever production's doubt (a check of only what production is
    surest of would miss what it finds harder). bench/loop.py picks with this too."""
    chosen = []
    for kind in sorted({k for _, k, _ in candidates}):
        rows = [cid for cid, k, _ in candidates if k == kind and cid not in taken]
        chosen += sorted(rows, key=lambda cid: _position(project_id, cid, "check"))[:per_kind]
    return sorted(chosen)


def unopened_heads(
    project, base, policy: RoundPolicy, kind: str = ""
) -> tuple[list[Target], list[Target]]:
    """Production's own masks of unopened cases: the pseudo-labels a round trains on, and the
    cases its forgetting check compares the candidate with production on (the worker keeps only
    kinds where production is trusted: :func:`trusted_kinds` of its Dice on the round's held-out
    cases). Cases still "ready" that no annotator has opened, every target's head made by
    ``base`` (the production model: promotion pre-segments unopened cases again); at most
    ``pseudo_per_kind`` cases per kind as pseudo-labels, the surest first (:func:`pick_pseudo`),
    and ``check_per_kind`` of the others for the check (:func:`pick_check`); only cases of
    ``kind`` when one is given."""
    if base is None or policy.pseudo_per_kind == policy.check_per_kind == 0:
        return [], []
    # Only cases whose every target's head is production's: an older model's mask, a person's,
    # or none on any target leaves the case out (filtered in the database, not in Python).
    production_made = dict(head__source=RevisionSource.MODEL, head__model_version=base)
    other = Target.objects.filter(case=OuterRef("case")).exclude(**production_made)
    unopened = Target.objects.filter(
        case__project=project, case__status=CaseStatus.READY,
        case__first_opened_at__isnull=True, **production_made,
    )  # fmt: skip
    if kind:
        unopened = unopened.filter(images_of_kind(kind, "case__image__"))
    targets = list(
        unopened.exclude(Exists(other))
        .select_related("head", "case__image")
        .order_by("case_id", "id")
    )
    by_case: dict[int, list[Target]] = {}
    for t in targets:
        by_case.setdefault(t.case_id, []).append(t)
    candidates = []
    for cid, ts in by_case.items():
        image = ts[0].case.image
        doubts = [t.head.uncertainty for t in ts]
        doubt = None if None in doubts else max(doubts)  # the case is as doubtful as its worst
        candidates.append((cid, kind_of(image.kind, image.modality), doubt))
    kinds = {kind for _, kind, _ in candidates}
    pseudo = set(pick_pseudo(candidates, kinds, policy.pseudo_per_kind))
    check = set(pick_check(candidates, pseudo, policy.check_per_kind, project.pk))
    return [t for t in targets if t.case_id in pseudo], [t for t in targets if t.case_id in check]


# Accepted cases a round needs (of its kind): one to train on, one to evaluate on.
MIN_ROUND_CASES = 2


@transaction.atomic
def take_snapshot(project, base=None, kind: str = "") -> Snapshot:
    """The accepted masks (of ``kind`` of image, or every kind) split train/held-out, and (given
    ``base``, the production model the round starts from) the pseudo-label and forgetting-check
    candidates of :func:`unopened_heads`."""
    policy = policy_for(project)
    heads = list(accepted_heads(project, kind))
    case_ids = sorted({t.case_id for t in heads})
    if len(case_ids) < MIN_ROUND_CASES:
        of_kind = f" of {KIND_NAMES[kind]}" if kind else ""
        raise InvalidInput(
            f"a round needs accepted masks{of_kind} from at least {MIN_ROUND_CASES} cases (one "
            f"to train on, one to evaluate on); the project has {len(case_ids)}",
            code="not_enough_data",
        )
    splits = _splits(project, heads, policy.heldout_fraction)
    pseudo, check = unopened_heads(project, base, policy, kind)
    splits.update({t.case_id: Split.PSEUDO for t in pseudo})
    splits.update({t.case_id: Split.CHECK for t in check})
    chosen = heads + pseudo + check
    lines = sorted(f"{t.head_id}:{t.head.checksum}:{splits[t.case_id]}" for t in chosen)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    counts = {s: sum(1 for t in chosen if splits[t.case_id] == s) for s in Split.values}
    snapshot = Snapshot.objects.create(
        project=project,
        sha256=digest,
        train_count=counts[Split.TRAIN],
        heldout_count=counts[Split.HELDOUT],
        pseudo_count=counts[Split.PSEUDO],
        check_count=counts[Split.CHECK],
    )
    SnapshotEntry.objects.bulk_create(
        SnapshotEntry(
            snapshot=snapshot,
            revision_id=t.head_id,
            target_id=t.pk,
            case_id=t.case_id,
            split=splits[t.case_id],
        )
        for t in chosen
    )
    return snapshot


def last_round_seeing(project, kind: str = ""):
    """The last round that trained on ``kind``'s masks: a round of that kind or of every kind
    (a model per kind is the default, and an admin may still start a round of every kind)."""
    kinds = {kind, ""}
    return TrainingRound.objects.filter(project=project, kind__in=kinds).order_by("-number").first()


def new_accepted_since_last_round(project, kind: str = "") -> int:
    """Accepted masks (of ``kind``, or every kind) that the last round to see them (of that kind
    or, for one kind, of every kind) did not train or evaluate on."""
    last = last_round_seeing(project, kind)
    heads = accepted_heads(project, kind).values_list("head_id", flat=True)
    if last is None:
        return heads.count()
    seen = last.snapshot.entries.exclude(split__in=UNOPENED).values_list("revision_id", flat=True)
    return heads.exclude(head_id__in=seen).count()


# ---------------------------------------------------------------- starting and stopping


def start_round(
    project,
    *,
    actor=None,
    trigger: str = RoundTrigger.MANUAL,
    steps: int | None = None,
    learning_rate: float | None = None,
    force: bool = False,
    kind: str = "",
) -> TrainingRound:
    """Snapshot the accepted masks and queue training. Conflict if a round already runs, or if
    no mask was accepted since the last round (the same data again) unless `force` (an admin's
    explicit choice, e.g. to retry a failed round; audited). With a ``kind`` of image the round
    trains on that kind's masks only, from the production model serving it, and its candidate
    serves that kind alone (docs/inference.md, "A model per kind of image")."""
    kind = check_kind(kind)
    if learning_rate is not None and not LR_RANGE[0] <= learning_rate <= LR_RANGE[1]:
        raise InvalidInput(
            "the learning rate must be between 1e-7 and 1e-2",
            code="bad_learning_rate",
        )
    base = production_model(project, kind)
    if base is None:
        raise Conflict("there is no production model to fine-tune", code="no_model")
    if TrainingRound.objects.filter(project=project, status__in=ACTIVE_ROUND_STATUSES).exists():
        raise Conflict("a round is already running for this project", code="round_running")
    last = last_round_seeing(project, kind)
    if last is not None and not force and new_accepted_since_last_round(project, kind) == 0:
        of_kind = f" {KIND_NAMES[kind]}" if kind else ""
        raise Conflict(
            f"no{of_kind} mask was accepted since round {last.number}: a round now would train "
            "on the same data again; an admin may force it",
            code="no_new_masks",
        )
    policy = policy_for(project)
    try:
        with transaction.atomic():
            snapshot = take_snapshot(project, base, kind)
            number = (
                TrainingRound.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0
            ) + 1
            round_ = TrainingRound.objects.create(
                project=project,
                number=number,
                trigger=trigger,
                kind=kind,
                snapshot=snapshot,
                base_model=base,
                config={
                    "steps": steps or policy.steps,
                    "model_config": base.config,
                    "learning_rate": learning_rate or recipe_lr(base.config),
                    "pseudo_min_dice": policy.pseudo_min_dice,
                    "check_min_dice": policy.check_min_dice,
                },
                started_by=actor if getattr(actor, "is_authenticated", False) else None,
                progress={"phase": "queued"},
            )
            record(
                "round.start",
                actor=actor,
                actor_label=trigger if actor is None else "",
                obj=round_,
                project=project,
                number=number,
                snapshot=snapshot.sha256,
                forced=force,
                kind=kind,
            )
            transaction.on_commit(lambda: _enqueue(round_))
    except IntegrityError as exc:  # the one-active-round constraint: a concurrent start won
        raise Conflict("a round is already running for this project", code="round_running") from exc
    return round_


def _enqueue(round_: TrainingRound) -> None:
    from .tasks import train_round

    try:
        result = train_round.delay(round_.pk)
    except Exception as exc:  # the broker refused it: fail visibly, nothing left "queued"
        fail(round_, "the task queue was unavailable; start the round again")
        raise ServiceUnavailable(f"the task queue is unavailable ({type(exc).__name__})") from exc
    TrainingRound.objects.filter(pk=round_.pk, task_id="").update(task_id=result.id or "")


def cancel_round(round_: TrainingRound, *, actor) -> TrainingRound:
    if round_.status not in ACTIVE_ROUND_STATUSES:
        raise Conflict(f"round {round_.number} is {round_.status}; nothing to cancel")
    TrainingRound.objects.filter(pk=round_.pk).update(cancel_requested=True)
    if round_.status == RoundStatus.QUEUED:
        set_fields(round_, status=RoundStatus.CANCELLED, message="cancelled before it started",
             finished_at=timezone.now())  # fmt: skip
    record("round.cancel", actor=actor, obj=round_, project=round_.project)
    round_.refresh_from_db()
    return round_


def set_fields(round_: TrainingRound, **fields) -> None:
    for name, value in fields.items():
        setattr(round_, name, value)
    round_.save(update_fields=[*fields, "updated_at"])
    progress.publish_round(round_)


def fail(round_: TrainingRound, message: str) -> TrainingRound:
    set_fields(round_, status=RoundStatus.FAILED, message=message[:500], finished_at=timezone.now())
    record("round.failed", obj=round_, project=round_.project, message=message[:200])
    return round_


def promote_round(
    round_: TrainingRound, *, actor, reason: str = "", override: str = ""
) -> TrainingRound:
    """Promote the round's candidate. One that failed the gate (or the quality floor) needs
    `override`, a written reason (registry.services.promote)."""
    if round_.status != RoundStatus.CANDIDATE or round_.candidate is None:
        raise Conflict(f"round {round_.number} is {round_.status}; only a candidate is promoted")
    version = services.promote(
        round_.candidate, actor=actor, reason=reason or f"round {round_.number}", override=override
    )
    note = f"promoted: {reason}"
    if version.override:
        note = f"promoted over {'; '.join(version.override['problems'])} ({override.strip()})"
    set_fields(round_, status=RoundStatus.PROMOTED, message=note[:500])
    return round_
