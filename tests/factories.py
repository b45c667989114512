"""Test data builders: users, projects with roles, cases with a stored NIfTI image."""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import uuid
from pathlib import Path

import nibabel as nib
import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotator.annotations.models import Assignment, Target
from annotator.cases.models import Case, CaseStatus, Image
from annotator.projects.models import Membership, Project

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery-9"


def user(username: str | None = None, *, staff: bool = False):
    username = username or f"user{next(_seq)}"
    return get_user_model().objects.create_user(
        username=username, password=PASSWORD, is_staff=staff, is_superuser=staff
    )


def project(slug: str | None = None, *, kind: str = "volume", modality: str = "CT", **members):
    """members: role=[users] e.g. annotator=[alice], reviewer=[bob]."""
    slug = slug or f"project-{next(_seq)}"
    p = Project.objects.create(
        name=slug.title(),
        slug=slug,
        kind=kind,
        modality=modality,
        labels=[{"name": "lesion", "color": "#ff0000"}, {"name": "cyst", "color": "#00ff00"}],
    )
    for role, users in members.items():
        for u in users:
            Membership.objects.create(project=p, user=u, role=role)
    return p


def nifti_bytes(array_zyx: np.ndarray, spacing=(0.8, 0.8, 2.5), origin=(0.0, 0.0, 0.0)) -> bytes:
    """gzip NIfTI of a (z, y, x) array, LPS origin, axis-aligned, RAS affine as ITK writes it."""
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    affine[:3, 3] = [-origin[0], -origin[1], origin[2]]
    img = nib.Nifti1Image(np.ascontiguousarray(array_zyx.transpose(2, 1, 0)), affine)
    img.header.set_xyzt_units("mm", "sec")
    return gzip.compress(img.to_bytes(), compresslevel=1)


def case(
    proj: Project,
    *,
    shape_zyx=(8, 24, 32),
    status: str = CaseStatus.READY,
    assignee=None,
    kind: str | None = None,
    array: np.ndarray | None = None,
) -> Case:
    kind = kind or proj.kind
    if array is None:
        rng = np.random.default_rng(0)
        array = rng.integers(-100, 100, size=shape_zyx, dtype=np.int16)
    data = nifti_bytes(array)
    c = Case.objects.create(
        project=proj,
        study_id=f"ST-{uuid.uuid4().hex[:10].upper()}",
        fingerprint=uuid.uuid4().hex,
        status=status,
    )
    name = default_storage.save(f"images/{proj.pk}/{c.pk}/image.nii.gz", ContentFile(data))
    nz, ny, nx = array.shape
    Image.objects.create(
        case=c,
        file=name,
        kind=kind,
        modality=proj.modality,
        shape=[nx, ny, nz],
        spacing=[0.8, 0.8, 2.5],
        origin=[0.0, 0.0, 0.0],
        direction=[1, 0, 0, 0, 1, 0, 0, 0, 1],
        dtype=str(array.dtype),
        frame_count=nz if kind == "video" else None,
        frame_rate=30.0 if kind == "video" else None,
        source_format="nifti",
        checksum=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
    )
    if assignee is not None:
        Assignment.objects.create(case=c, annotator=assignee)
    return c


def target(c: Case, *, label: str = "lesion", key_index: int | None = None, box=None) -> Target:
    nx, ny, nz = c.image.shape
    return Target.objects.create(
        case=c,
        label=label,
        key_index=nz // 2 if key_index is None else key_index,
        box=box if box is not None else [2.0, 2.0, nx / 2, ny / 2],
    )


def mask_for(c: Case, *, fill: tuple[slice, ...] | None = None) -> np.ndarray:
    nx, ny, nz = c.image.shape
    m = np.zeros((nz, ny, nx), np.uint8)
    m[fill or (slice(nz // 2, nz // 2 + 2), slice(3, 9), slice(4, 12))] = 1
    return m


def mask_nifti(c: Case, mask_zyx: np.ndarray) -> bytes:
    """A mask upload in the case's grid, as the viewer would send it."""
    return nifti_bytes(mask_zyx.astype(np.uint8))


def mask_file(data: bytes, name: str = "mask.nii.gz") -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def tiny_model_version(
    tmp_dir,
    *,
    project=None,
    promote: bool = True,
    seed: int = 0,
    object_bias: float | None = None,
    kind: str = "",
):
    """Register a random-weights tiny_test checkpoint (fast on CPU) as a model version (serving
    one ``kind`` of image, or every kind); ``object_bias`` pins its object-score head's bias
    (positive: the object is there)."""
    import torch

    from annotator.registry import services as modelops
    from annotator.registry.models import ModelOrigin
    from inference.checkpoint import save_checkpoint
    from inference.model import TINY_TEST, build_model
    from inference.sam2_adapter import pin_object_score

    torch.manual_seed(seed)
    path = Path(tmp_dir) / f"tiny-{seed}.pt"
    model = build_model(TINY_TEST)
    if object_bias is not None:
        pin_object_score(model, object_bias)
    save_checkpoint(model, path)
    version = modelops.register(
        path,
        name=f"tiny-{seed}",
        origin=ModelOrigin.BOOTSTRAP,
        config=TINY_TEST,
        project=project,
        kind=kind,
    )
    if promote:
        modelops.promote(version, override="test model: random weights, not evaluated")
    return version
