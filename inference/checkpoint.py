"""Checkpoints in the official MedSAM2 format: a torch pickle ``{"model": state_dict}``.

Loading is strict: a checkpoint whose tensors do not match the config (missing, unexpected or
mis-shaped keys) is refused with a :class:`CheckpointError` that names them, as is a corrupt or
truncated file or one without ``"model"``. The file's SHA-256 is recorded so the model registry
and the model cache can tell checkpoints apart by content.

Device policy: CUDA when present (inference under bf16 autocast), else CPU in fp32.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from inference.model import MEDSAM2, build_model, config_path

_HASH_CHUNK = 1 << 20
_MAX_LISTED = 8  # keys named per category in an error message


class CheckpointError(Exception):
    """A checkpoint file is unreadable or does not match the model config."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference, with where it came from."""

    model: torch.nn.Module  # sam2's SAM2VideoPredictor, in eval mode
    config: str  # config name (or YAML path) it was built from
    sha256: str  # of the checkpoint file
    device: torch.device
    image_size: int  # square model input side, e.g. 512
    path: Path | None = None

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """bf16 on CUDA; None (plain fp32) on CPU."""
        return torch.bfloat16 if self.device.type == "cuda" else None

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context for running the model: on CUDA what MedSAM2's script runs under, nothing on CPU.

        CUDA: bf16 autocast, and the attention kernels the official build picks on a GPU of
        compute capability >= 8 (flash attention on, memory-efficient off); the math kernel stays
        as a fallback (the official build would raise instead) for inputs flash cannot take.
        """
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(torch.autocast(self.device.type, dtype=self.autocast_dtype))
        stack.enter_context(sdpa_kernel(official_attention_kernels(), set_priority=True))
        return stack


def official_attention_kernels() -> list[SDPBackend]:
    """SDPA backends in the official build's order: flash on Ampere or newer, else as sam2 did
    on older GPUs (memory-efficient), with the math kernel last."""
    major, _ = torch.cuda.get_device_capability() if torch.cuda.is_available() else (0, 0)
    first = SDPBackend.FLASH_ATTENTION if major >= 8 else SDPBackend.EFFICIENT_ATTENTION
    return [first, SDPBackend.MATH]


def configure_cuda() -> None:
    """Process-wide settings MedSAM2's script makes: float32 matmuls may use TF32 ('high')."""
    torch.set_float32_matmul_precision("high")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks (checkpoints are ~156 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict stored under "model" in a checkpoint file (tensors on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    _check_declared_sizes(path)
    try:
        # weights_only: never run arbitrary pickled code from a downloaded file.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/truncated/unsafe files
        raise CheckpointError(
            f"checkpoint {path} cannot be read (corrupt, truncated or not a torch "
            f"weights file): {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    if not isinstance(payload, Mapping) or "model" not in payload:
        found = sorted(map(str, payload))[:_MAX_LISTED] if isinstance(payload, Mapping) else []
        raise CheckpointError(
            f'checkpoint {path} has no "model" entry (MedSAM2 format is {{"model": state_dict}}; '
            f"found {type(payload).__name__} with keys {found})"
        )
    state = payload["model"]
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise CheckpointError(f'checkpoint {path}: "model" is not a state dict of tensors')
    return dict(state)


# Deflate expands data at most about 1032:1 (torch itself writes stored, uncompressed records).
_DEFLATE_MAX_RATIO = 1032


def _check_declared_sizes(path: Path) -> None:
    """A checkpoint is a zip whose records torch allocates at their declared size before
    reading them: refuse a record that cannot be in the file (its data past the end, or more
    than its compressed bytes could hold). Non-zip (legacy) files are left to torch.load."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    for info in infos:
        stored = info.compress_type == zipfile.ZIP_STORED
        if (
            info.header_offset + info.compress_size > size
            or (stored and info.file_size != info.compress_size)
            or info.file_size > info.compress_size * _DEFLATE_MAX_RATIO + 1024
        ):
            raise CheckpointError(
                f"checkpoint {path} is truncated or corrupt: record {info.filename!r} declares "
                f"{info.file_size} bytes that the {size}-byte file cannot hold"
            )


def check_state_dict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], *, source: str, config: str
) -> None:
    """Raise CheckpointError naming every missing, unexpected and mis-shaped key."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    problems = [
        _listing("missing key", missing),
        _listing("unexpected key", unexpected),
        _listing("mis-shaped key", misshaped),
    ]
    problems = [p for p in problems if p]
    if problems:
        raise CheckpointError(
            f"checkpoint {source} does not match config {config!r}: " + "; ".join(problems)
        )


def load_checkpoint(
    path: str | Path,
    config: str | Path = MEDSAM2,
    device: str | torch.device | None = None,
) -> LoadedModel:
    """Build the config's video predictor and load the checkpoint into it, strictly."""
    path = Path(path)
    config_path(config)  # unknown config: ValueError before reading a big file
    state = read_state_dict(path)
    digest = sha256_file(path)
    target = pick_device(device)
    model = build_model(config, "cpu", video_predictor=True, training=False)
    check_state_dict(model, state, source=str(path), config=str(config))
    model.load_state_dict(state, strict=True)
    model = model.to(target).eval()
    if target.type == "cuda":
        configure_cuda()
    return LoadedModel(
        model=model,
        config=str(config),
        sha256=digest,
        device=target,
        image_size=int(model.image_size),
        path=path,
    )


def save_checkpoint(model: torch.nn.Module, path: str | Path) -> str:
    """Write ``{"model": state_dict}`` atomically (temp file, fsync, rename); return its SHA-256."""
    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_save({"model": state}, path)
    return sha256_file(path)


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temp file beside ``path``, fsync, rename over it, fsync the folder:
    a crash leaves the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; not supported everywhere (e.g. Windows), where it is skipped.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _listing(what: str, items: list[str]) -> str:
    if not items:
        return ""
    shown = ", ".join(items[:_MAX_LISTED])
    more = f", ... ({len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
    return f"{len(items)} {what}{'s' if len(items) != 1 else ''} ({shown}{more})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
