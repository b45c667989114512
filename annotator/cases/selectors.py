"""Reads for cases: what a user may see, their queue, and image file access."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from functools import lru_cache

import nibabel as nib
import numpy as np
from django.core.files.storage import default_storage
from django.db.models import Case as When_
from django.db.models import (
    Expression,
    F,
    FloatField,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.functions import Cast, Greatest, Ln, RowNumber
from django.http import Http404
from isal import igzip, isal_zlib

from annotator.core.errors import InvalidInput
from annotator.projects import policy
from annotator.projects.models import Membership, Project, QueueOrder

from .models import Case, CaseStatus, Image
from .ordering import DOUBT_FLOOR, MODULUS, MULTIPLIER, SAMPLE_MULTIPLIER, SHARE_FLOOR

NIFTI1_HEADER_SIZE = 348


def visible_cases(user, project: Project | None = None) -> QuerySet[Case]:
    """The cases ``user`` may see (policy "case.view"): every case of a project where they hold
    a role that sees all, plus those assigned to them where they annotate."""
    qs = Case.objects.select_related("project", "image")
    if project is not None:
        qs = qs.filter(project=project)
    if user.is_staff:
        return qs
    see_all = Membership.objects.filter(
        user=user, role__in=policy.granted_roles("case.view")
    ).values("project_id")
    annotating = Membership.objects.filter(
        user=user, role__in=policy.granted_roles("case.view", assignee=True)
    ).values("project_id")
    return qs.filter(
        Q(project_id__in=see_all)
        | Q(
            project_id__in=annotating,
            assignments__annotator=user,
            assignments__active=True,
        )
    ).distinct()


def get_visible_case(user, pk) -> Case:
    """The case, or 404 when it does not exist or ``user`` may not see it."""
    case = visible_case(user, pk)
    if case is None:
        raise Http404("No Case matches the given query.")
    return case


def visible_case(user, pk) -> Case | None:
    """The case if it exists and ``user`` may see it: by primary key and a role check (the rule
    visible_cases() applies to lists), not a DISTINCT query over every visible case."""
    case = Case.objects.select_related("project", "image").filter(pk=pk).first()
    return case if case is not None and can_see_case(user, case) else None


def can_see_case(user, case: Case) -> bool:
    return case_allows(user, "case.view", case)


def is_assignee(user, case: Case) -> bool:
    return case.assignments.filter(annotator=user, active=True).exists()


def case_allows(user, action: str, case: Case) -> bool:
    """The policy's answer for ``action`` on ``case`` (whether ``user`` is its assignee is
    looked up only when a grant depends on it)."""
    return policy.can(user, action, case.project_id, assignee=lambda: is_assignee(user, case))


def require_case(user, action: str, case: Case) -> None:
    """Raise NotAllowed (403) unless the policy allows ``action`` on ``case``."""
    policy.require(user, action, case.project_id, assignee=lambda: is_assignee(user, case))


# Rework first, then what is already open, then fresh work.
_QUEUE_ORDER = When_(
    When(status=CaseStatus.REJECTED, then=Value(0)),
    When(status=CaseStatus.IN_PROGRESS, then=Value(1)),
    When(status=CaseStatus.READY, then=Value(2)),
    When(status=CaseStatus.NEW, then=Value(3)),
    When(status=CaseStatus.PRESEGMENTING, then=Value(4)),
    default=Value(9),
    output_field=IntegerField(),
)
QUEUE_STATUSES = [
    CaseStatus.REJECTED,
    CaseStatus.IN_PROGRESS,
    CaseStatus.READY,
    CaseStatus.NEW,
    CaseStatus.PRESEGMENTING,
]


# A case's uncertainty (the most doubtful of its targets' latest model masks) is the annotation
# layer's to compute: it hands this layer a factory of that expression at start-up
# (annotations.apps), as a higher layer subscribes to a lower one's events. Without one, no
# case has a score.
_case_uncertainty: Callable[[], Expression] | None = None


def provide_case_uncertainty(factory: Callable[[], Expression] | None) -> None:
    """Set how a case's uncertainty is computed: ``factory()`` is an expression over ``Case``
    (a subquery on ``OuterRef("pk")``), a float in [0, 1] or null."""
    global _case_uncertainty
    _case_uncertainty = factory


# A project's evaluation sample (ordering, "The evaluation sample") is as large as the share its
# rounds hold out, which the model-operations layer keeps: it hands this layer a factory of that
# expression at start-up (modelops.apps). Without one, no case is in the sample.
_evaluation_share: Callable[[], Expression] | None = None


def provide_evaluation_share(factory: Callable[[], Expression] | None) -> None:
    """Set how a case's project's evaluation share is read: ``factory()`` is an expression over
    ``Case``, a float in [0, 1)."""
    global _evaluation_share
    _evaluation_share = factory


def evaluation_share() -> Expression:
    """The expression that annotates a case with its project's evaluation share (0 when none)."""
    if _evaluation_share is None:
        return Value(0.0, output_field=FloatField())
    return _evaluation_share()


def case_uncertainty() -> Expression:
    """The expression that annotates a case with its uncertainty (null when unknown)."""
    if _case_uncertainty is None:
        return Value(None, output_field=FloatField())
    return _case_uncertainty()


def in_queue_order(qs: QuerySet[Case]) -> QuerySet[Case]:
    """Rework first, then open, ready, new, pre-segmenting (``queue_rank``); within a group, by
    the project's ``queue_order``: "uncertainty", the most uncertain case first; "balanced",
    modalities in turn and a draw weighted by doubt within each; in both, the evaluation sample
    interleaved in import order and cases without a score after the scored ones
    (:func:`.ordering.queue_order` is the same rule in plain Python). In a queue mixing
    projects, the scored cases of projects ordered by doubt come before those of projects in
    import order. Then import order. Every case gets ``uncertainty`` (null when unknown) and
    ``queue_score`` (its uncertainty where the project orders by it)."""
    qs = qs.annotate(
        queue_rank=_QUEUE_ORDER, uncertainty=case_uncertainty(), queue_share=evaluation_share()
    )
    ordered = Q(project__queue_order__in=[QueueOrder.UNCERTAINTY, QueueOrder.BALANCED])
    balanced = Q(project__queue_order=QueueOrder.BALANCED)
    scored = Q(uncertainty__isnull=False)
    qs = qs.annotate(
        queue_score=When_(
            When(ordered, then=F("uncertainty")),
            default=Value(None, output_field=FloatField()),
            output_field=FloatField(),
        ),
        queue_unscored=When_(
            When(ordered & scored, then=Value(0)), When(ordered, then=Value(1)), default=Value(0)
        ),
        # ordering.draw_key in SQL: ln(lottery(id)) / max(doubt, DOUBT_FLOOR).
        queue_draw=When_(
            When(
                balanced & scored,
                then=Ln(_fixed_draw(MULTIPLIER)) / Greatest(F("uncertainty"), Value(DOUBT_FLOOR)),
            ),
            default=Value(None, output_field=FloatField()),
            output_field=FloatField(),
        ),
        queue_sample_draw=_fixed_draw(SAMPLE_MULTIPLIER),  # ordering.evaluation_draw
    )
    sampled = ordered & scored & Q(queue_sample_draw__lt=F("queue_share"))
    qs = qs.annotate(
        queue_sampled=When_(When(sampled, then=Value(1)), default=Value(0)),
        # A stream's key, the larger first: the sample's cases have none (import order).
        queue_key=When_(
            When(sampled, then=Value(None, output_field=FloatField())),
            When(balanced, then=F("queue_draw")),
            default=F("queue_score"),
            output_field=FloatField(),
        ),
    )
    row = Cast(
        Window(
            RowNumber(),
            # A balanced project's modalities take turns within it; the cases of projects in
            # "uncertainty" order share one doubt stream, so a queue mixing such projects is
            # still the most doubtful first across them.
            partition_by=[
                F("queue_rank"),
                When_(When(balanced, then=F("project_id")), default=Value(0)),
                When_(When(balanced, then=F("image__modality")), default=Value("")),
                F("queue_unscored"),
                F("queue_sampled"),
            ],
            order_by=[F("queue_key").desc(nulls_last=True), F("created_at"), F("id")],
        ),
        FloatField(),
    )
    qs = qs.annotate(  # ordering.queue_order's turn: the n-th case of a stream at n / its share
        queue_turn=When_(
            When(sampled, then=row / Greatest(F("queue_share"), Value(SHARE_FLOOR))),
            When(ordered, then=row / Greatest(Value(1.0) - F("queue_share"), Value(SHARE_FLOOR))),
            default=Value(None, output_field=FloatField()),  # import order: after the turns
            output_field=FloatField(),
        )
    )
    return qs.order_by(
        "queue_rank",
        "queue_unscored",
        F("queue_turn").asc(nulls_last=True),
        F("queue_draw").desc(nulls_last=True),
        F("queue_score").desc(nulls_last=True),
        "created_at",
        "id",
    )


def _fixed_draw(multiplier: int) -> Expression:
    """``ordering``'s multiplicative hash of the case id in SQL: a fixed number in (0, 1)."""
    return (Cast(F("id") * multiplier % MODULUS, FloatField()) + 0.5) / float(MODULUS)


def my_queue(user, project: Project | None = None) -> QuerySet[Case]:
    """Cases assigned to `user` that still need their work, most urgent first
    (:func:`in_queue_order`)."""
    qs = Case.objects.filter(
        assignments__annotator=user, assignments__active=True, status__in=QUEUE_STATUSES
    )
    if project is not None:
        qs = qs.filter(project=project)
    return in_queue_order(qs)


def unclaimed_cases(user, project: Project | None = None) -> QuerySet[Case]:
    """Unassigned cases in projects where `user` annotates (self-service queue): ready before
    new, then by the project's queue order (:func:`in_queue_order`; oldest first by default)."""
    workers = policy.granted_roles("case.edit", assignee=True)
    projects = Membership.objects.filter(user=user, role__in=workers).values("project_id")
    qs = Case.objects.filter(
        project_id__in=projects,
        status__in=[CaseStatus.READY, CaseStatus.NEW],
    ).exclude(assignments__active=True)
    if project is not None:
        qs = qs.filter(project=project)
    return in_queue_order(qs)


@lru_cache(maxsize=2)
def _volume(name: str, checksum: str) -> np.ndarray:
    """The image voxels as (z, y, x), cached for the next target of the same case."""
    with default_storage.open(name, "rb") as fh:
        data = fh.read()
    img = nib.Nifti1Image.from_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    array = np.asanyarray(img.dataobj)
    if array.ndim == 4:
        array = array[..., 0]
    return np.ascontiguousarray(array.transpose(2, 1, 0))


def clean_window(value) -> str | list[float]:
    """A window from a request or a file, checked (a CT preset name or [center, width > 0]) and
    stored as JSON; InvalidInput says what is wrong."""
    from inference.windows import parse_window

    try:
        window = parse_window(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_window") from None
    return window if isinstance(window, str) else list(window)


def as_window(stored):
    """A stored window (preset name or [center, width]) as the engine takes it."""
    return stored if isinstance(stored, str) else (float(stored[0]), float(stored[1]))


def input_window(case: Case, options: dict):
    """The intensity window of a model input for ``case``, as pre-segmentation and the training
    export use it: an explicit option (a preset name or [center, width]), the project default,
    the CT image's own window, else None (the modality rule of inference). A target's own window
    comes before the project's: annotations.selectors.target_window."""
    if options.get("window"):
        return as_window(options["window"])
    if case.project.default_window:
        return case.project.default_window
    image = case.image
    if image.modality == "CT" and image.window_center is not None and image.window_width:
        return (image.window_center, image.window_width)
    return None


def load_volume(image: Image) -> np.ndarray:
    """A stored image's voxels as a (z, y, x) array (read-only use: it is shared)."""
    return _volume(image.file.name, image.checksum)


def read_nifti_header(fileobj) -> tuple[bytes, np.ndarray, tuple[int, int, int]]:
    """NIfTI-1 header bytes, RAS affine and [x, y, z] shape of an open (gzip) NIfTI file."""
    magic = fileobj.read(2)
    fileobj.seek(0)
    stream = gzip.GzipFile(fileobj=fileobj) if magic == b"\x1f\x8b" else fileobj
    header_bytes = stream.read(NIFTI1_HEADER_SIZE)
    header = nib.Nifti1Header.from_fileobj(io.BytesIO(header_bytes))
    shape = tuple(int(s) for s in header.get_data_shape()[:3])
    return header_bytes, header.get_best_affine(), shape  # type: ignore[return-value]


@lru_cache(maxsize=512)
def _header(name: str, checksum: str) -> tuple[bytes, np.ndarray, tuple[int, int, int]]:
    with default_storage.open(name, "rb") as fh:
        return read_nifti_header(fh)


def image_header(image: Image) -> tuple[bytes, np.ndarray, tuple[int, int, int]]:
    """(NIfTI-1 header bytes, RAS affine, [x, y, z] shape) of a stored image, cached."""
    return _header(image.file.name, image.checksum)


def image_slice_nifti(image: Image, index: int) -> bytes:
    """gzip NIfTI-1 of one stored slice (native z = ``index``) with the image's own geometry.

    The viewer shows it while the whole volume is still on its way. Reading skips the earlier
    slices inside the gzip stream (ISA-L inflates ~1 GB/s); the header keeps data type, scaling
    and orientation, with the origin moved to the slice.
    """
    header_bytes, _, (nx, ny, nz) = image_header(image)
    if not 0 <= index < nz:
        raise InvalidInput(f"slice {index} is outside the image (0..{nz - 1})")
    header = nib.Nifti1Header.from_fileobj(io.BytesIO(header_bytes))
    if len(header.get_data_shape()) > 3 and int(np.prod(header.get_data_shape()[3:])) > 1:
        raise InvalidInput("single slices are served for 3D images only")
    itemsize = header.get_data_dtype().itemsize
    size = nx * ny * itemsize
    data = _read_range(image.file.name, int(header["vox_offset"]) + index * size, size)
    if len(data) != size:
        raise InvalidInput(f"the stored image ends before slice {index}")
    out = header.copy()
    out.set_data_shape((nx, ny, 1))
    shift = np.eye(4)
    shift[2, 3] = index
    for form in ("sform", "qform"):
        affine, code = getattr(out, f"get_{form}")(coded=True)
        if affine is not None and code:
            getattr(out, f"set_{form}")(affine @ shift, code=int(code))
    buf = io.BytesIO()
    out.write_to(buf)
    buf.write(b"\x00" * (int(out["vox_offset"]) - buf.tell()))
    buf.write(data)
    return igzip.compress(buf.getvalue(), compresslevel=1, mtime=0)


def _read_range(name: str, start: int, size: int) -> bytes:
    """Bytes [start, start + size) of a stored file, inflated if it is gzip: what comes before
    is inflated and dropped in 1 MiB reads (ISA-L, about twice zlib's speed)."""
    with default_storage.open(name, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            fh.seek(start)
            return fh.read(size)
        fh.seek(0)
        inflater = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
        out, pos = bytearray(), 0
        while len(out) < size and (chunk := fh.read(1 << 20)):
            data = inflater.decompress(chunk)
            if pos + len(data) > start:
                out += data[max(0, start - pos) : start + size - pos]
            pos += len(data)
    return bytes(out[:size])
