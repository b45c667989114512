"""What a model version scored on held-out data, in one metrics schema for every origin, and the
quality floor: the rule that decides whether a version may become production without a person's
written reason (docs/inference.md, "Held-out figures and the quality floor").

The stored schema (`ModelVersion.metrics`):

    {"heldout": {"ct": {"dice": 0.96, "nsd": null, "n": 8}, "mr": {...}, "echo": {...}},
     "source": "phantoms" | "round" | "none",
     "gate": {"passed": false, "reason": "..."},      # round candidates only
     "training": {"steps": 2441, ...},                # how it was made, optional
     "file": "MedSAM2_latest.pt"}                     # published weights, optional

`read_metrics` is the one reader; it also understands the keys written before the schema
(`heldout_dice` from bootstrap_model, a round's flat `heldout` summary, a published model's
file name under `source`).
"""

from __future__ import annotations

from django.db.models import Q

from annotator.cases.models import Image
from annotator.core.errors import InvalidInput
from annotator.projects.models import Project

from .models import ModelStatus, ModelVersion, QualityFloor

KINDS = ("ct", "mr", "pet", "echo", "other")
KIND_NAMES = {"ct": "CT", "mr": "MR", "pet": "PET", "echo": "echo", "other": "other"}
# Floors on mean held-out Dice per kind: far below what a working model scores (the starter:
# 0.96 / 0.96 / 0.99, MedSAM2's published figures higher still), far above what a broken one
# does (issue #14: 0.0 / 0.10 / 0.75). An echo ventricle fills most of its prompt box (an
# ellipse fills pi/4 of it, Dice 0.88 for the box itself), so its floor is higher.
DEFAULT_FLOORS = {"ct": 0.5, "mr": 0.5, "pet": 0.5, "echo": 0.8, "other": 0.5}
SOURCES = ("phantoms", "round", "none")
_LEGACY_TRAINING = ("steps", "train_minutes", "final_loss")
_MODALITY_KINDS = {"CT": "ct", "MR": "mr", "PT": "pet"}  # DICOM modality: kind (else "other")


def check_kind(kind) -> str:
    """A kind of image as given to a round or a rollback: "" (every kind) or one of KINDS."""
    if kind in (None, ""):
        return ""
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown kind of image {kind!r}; kinds: {', '.join(KINDS)} (or none: every kind)",
            code="bad_kind",
        )
    return kind


def kind_of(image_kind: str, modality: str) -> str:
    """The kind of data an image (or a project's declared kind) is, for figures and floors."""
    if image_kind == "video":
        return "echo"
    return _MODALITY_KINDS.get(modality, "other")


def images_of_kind(kind: str, prefix: str = "") -> Q:
    """A filter on images (``prefix``: the path to them, e.g. "case__image__") that keeps those
    :func:`kind_of` calls ``kind``."""
    if kind == "echo":
        return Q(**{f"{prefix}kind": "video"})
    still = ~Q(**{f"{prefix}kind": "video"})
    modalities = [m for m, k in _MODALITY_KINDS.items() if k == kind]
    if kind == "other":
        return still & ~Q(**{f"{prefix}modality__in": list(_MODALITY_KINDS)})
    return still & Q(**{f"{prefix}modality__in": modalities})


def figure(dice, nsd=None, n=None) -> dict:
    return {
        "dice": None if dice is None else round(float(dice), 4),
        "nsd": None if nsd is None else round(float(nsd), 4),
        "n": n,
    }


def metrics(heldout: dict[str, dict], *, source: str, **extra) -> dict:
    """Metrics in the one schema: held-out figures per kind, where they come from, and extras
    (gate, training, file)."""
    if source not in SOURCES:
        raise ValueError(f"unknown metrics source {source!r}")
    return {"heldout": {k: figure(**v) for k, v in heldout.items()}, "source": source, **extra}


def read_metrics(stored: dict | None, kind_hint: str | None = None) -> dict:
    """Any stored metrics, old keys included, in the one schema. `kind_hint` names the kind of a
    legacy flat round summary (its project's kind); without one it is filed under "all"."""
    stored = dict(stored or {})
    out: dict = {"heldout": {}, "source": "none"}
    training = dict(stored.pop("training", None) or {})
    for key in _LEGACY_TRAINING:
        if key in stored:
            training[key] = stored.pop(key)
    legacy = stored.pop("heldout_dice", None)
    if isinstance(legacy, dict):  # bootstrap_model before the schema: {"ct": 0.96, ...}
        out["heldout"] = {
            k: figure(v) for k, v in legacy.items() if k in KINDS and isinstance(v, int | float)
        }
        out["source"] = "phantoms"
        for key in _LEGACY_TRAINING:
            if key in legacy:
                training[key] = legacy[key]
    heldout = stored.pop("heldout", None)
    if isinstance(heldout, dict) and "dice" in heldout:  # a round's flat summary
        out["heldout"] = {kind_hint or "all": figure(heldout.get("dice"), heldout.get("nsd"),
                                                     heldout.get("n"))}  # fmt: skip
        out["source"] = "round"
    elif isinstance(heldout, dict):
        out["heldout"] = {
            k: figure(v.get("dice"), v.get("nsd"), v.get("n"))
            for k, v in heldout.items()
            if isinstance(v, dict)
        }
    source = stored.pop("source", None)
    if source in SOURCES:
        out["source"] = source
    elif isinstance(source, str) and source:  # fetch_medsam2 before the schema: the file name
        stored.setdefault("file", source)
    if training:
        out["training"] = training
    out.update(stored)  # gate, file and anything else kept as it was
    return out


def version_metrics(version: ModelVersion) -> dict:
    """The version's metrics in the schema (a legacy flat round summary filed under its
    project's kind)."""
    project = version.project
    hint = kind_of(project.kind, project.modality) if project is not None else None
    return read_metrics(version.metrics, hint)


def heldout(version: ModelVersion) -> dict[str, dict]:
    return version_metrics(version)["heldout"]


# ---------------------------------------------------------------- the floor


def floors_for(project: Project | None) -> dict[str, float]:
    """The project's floor per kind (the defaults where it set none)."""
    own = QualityFloor.objects.filter(project=project).first() if project is not None else None
    return {**DEFAULT_FLOORS, **(own.dice if own is not None else {})}


def project_kinds(project: Project) -> list[str]:
    """The kinds of data a project uses: its declared kind and those of its cases' images."""
    pairs = set(
        Image.objects.filter(case__project=project).values_list("kind", "modality").distinct()
    )
    pairs.add((project.kind, project.modality))
    return sorted({kind_of(k, m) for k, m in pairs}, key=KINDS.index)


def _served_projects(kind: str = "") -> list[Project]:
    """The projects a global version for ``kind`` ("" every kind) would serve in production:
    those with no production version of their own for every kind, and for a kind version, none
    of their own for that kind either and some data of that kind."""
    own = ModelVersion.objects.filter(project__isnull=False, status=ModelStatus.PRODUCTION)
    projects = Project.objects.exclude(pk__in=own.filter(kind="").values("project_id"))
    if not kind:
        return list(projects)
    projects = projects.exclude(pk__in=own.filter(kind=kind).values("project_id"))
    return [p for p in projects if kind in project_kinds(p)]


def floor_problems(version: ModelVersion, cache: dict | None = None) -> list[str]:
    """Why the version's held-out figures do not clear the floor of every project it would
    serve, for every kind that project uses (a kind with no figure fails); a version for one
    kind, on that kind only. A global version that would serve no project is held to the
    default floors on the kinds it has figures for (of its kind), and needs at least one."""
    cache = {} if cache is None else cache
    figures = heldout(version)
    if version.project_id is not None:
        served = [version.project]
    else:
        key = ("served", version.kind)
        if key not in cache:
            cache[key] = _served_projects(version.kind)
        served = cache[key]
    if not served:
        own = [k for k in figures if k in KINDS and version.kind in ("", k)]
        if not any(figures[k].get("dice") is not None for k in own):
            return ["it has no held-out figures (not evaluated)"]
        checks = [(k, DEFAULT_FLOORS[k], "") for k in own]
    else:
        checks = []
        for project in served:
            key = ("project", project.pk)
            if key not in cache:
                cache[key] = (project_kinds(project), floors_for(project))
            kinds, floors = cache[key]
            if version.kind:  # it serves that kind only
                kinds = [version.kind]
            where = "" if version.project_id is not None else f" (project {project.slug})"
            checks += [(k, floors[k], where) for k in kinds]
    problems = []
    for kind, floor, where in checks:
        dice = (figures.get(kind) or {}).get("dice")
        name = KIND_NAMES[kind]
        if dice is None:
            problems.append(f"no held-out {name} Dice{where} (not evaluated on {name})")
        elif dice < floor:
            problems.append(
                f"held-out {name} Dice {dice:.3f} is below the floor {floor:.2f}{where}"
            )
    return list(dict.fromkeys(problems))


def promotion_problems(version: ModelVersion, cache: dict | None = None) -> list[str]:
    """Everything that keeps the version from production without a person's written reason:
    a failed round gate, and the quality floor."""
    problems = []
    gate = (version.metrics or {}).get("gate")
    if isinstance(gate, dict) and gate.get("passed") is False:
        problems.append(f"it failed its round's gate: {gate.get('reason', '')}".rstrip(": "))
    return problems + floor_problems(version, cache)


def summary(version: ModelVersion, cache: dict | None = None) -> dict:
    """For a page: the held-out figures as (kind name, figure) rows, where they come from, and
    what keeps the version from production (nothing once it is there)."""
    found = version_metrics(version)
    return {
        "heldout": [(KIND_NAMES.get(k, k), f) for k, f in found["heldout"].items()],
        "source": found["source"],
        "problems": (
            [] if version.status == ModelStatus.PRODUCTION else promotion_problems(version, cache)
        ),
    }
