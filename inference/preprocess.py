"""Image preprocessing for MedSAM2: intensities to uint8, then the model's normalised input.

1. Intensities to uint8, by one of two rules; a model config names its rule
   (``preprocess: {intensity: official|window}``, :func:`intensity_rule`; default ``official``):
   - ``official`` (MedSAM2's published scripts; the MedSAM2 configs):
     CT: clip to a window (a preset name or (center, width) in HU; no window: abdomen), then
     stretch the clipped volume's own min..max to 0-255 and truncate (``np.uint8``), in float64.
     A volume that does not span its window is stretched to the full 0-255.
     MR, PET and others: clip to the 0.5-99.5 percentiles of the voxels > 0, stretch the clipped
     volume's min..max to 0-255, truncate; voxels that are exactly 0 stay 0.
   - ``window`` (this project's first rule; the starter models were trained with it, so they keep
     it bit for bit): CT maps the window's bounds [c - w/2, c + w/2] to 0-255 and rounds (a
     lesion's grey level does not depend on what else is in the scan); MR and others use the
     percentiles of the voxels != 0, mapped and rounded, in float32.
   In both: ultrasound/echo frames that are uint8 already pass through; an explicit window also
   applies to non-CT modalities (the user asked for it).
2. Each slice/frame is resized to the model's square input (image_size x image_size, bicubic,
   as PIL does in the reference), divided by 255 and normalised with ImageNet mean/std, in
   float32. Grayscale frames are repeated to 3 channels; RGB frames keep theirs. Slices are
   resized lazily, when the model first needs them.

Masks come back in the image's own grid: the engine resizes the mask logits to H x W before
thresholding (sam2 does the same with video_height/video_width).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from inference.windows import DEFAULT_CT_WINDOW, Window, window_bounds

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PERCENTILES = (0.5, 99.5)
_SLAB_VOXELS = 1 << 22

_MODALITY_ALIASES = {
    "CT": "CT",
    "MR": "MR",
    "MRI": "MR",
    "PT": "PET",
    "PET": "PET",
    "US": "US",
    "ULTRASOUND": "US",
    "ECHO": "US",
}

OFFICIAL = "official"  # MedSAM2's scripts: stretch the clipped volume, truncate
WINDOW = "window"  # fixed window bounds, rounded (what the starter models were trained with)
INTENSITY_RULES = (OFFICIAL, WINDOW)


@lru_cache(maxsize=32)
def intensity_rule(config: str) -> str:
    """The model config's ``preprocess.intensity`` (``official`` when absent)."""
    from inference.model import load_config  # local: model imports torch/hydra

    rule = load_config(config).get("preprocess", {}).get("intensity", OFFICIAL)
    if rule not in INTENSITY_RULES:
        raise ValueError(f"{config}: preprocess.intensity must be one of {INTENSITY_RULES}")
    return rule


def canonical_modality(modality: str) -> str:
    """'CT', 'MR', 'PET', 'US' or 'OTHER' for a DICOM code or a common name (any case)."""
    if not isinstance(modality, str) or not modality.strip():
        raise ValueError(f"modality must be a non-empty string, got {modality!r}")
    return _MODALITY_ALIASES.get(modality.strip().upper(), "OTHER")


def model_pixels(
    image: np.ndarray, modality: str, is_video: bool, window: Window | None, rule: str
) -> np.ndarray:
    """The 8-bit frames the model sees for an image: the one conversion of the engine and of
    training. Clips that are uint8 already (echo, RGB) pass through; other clips are scaled as
    ultrasound, volumes by their modality (:func:`to_uint8`)."""
    if is_video or image.ndim == 4:
        return image if image.dtype == np.uint8 else to_uint8(image, "US", window, rule)
    return to_uint8(image, modality, window, rule)


def to_uint8(
    volume: np.ndarray, modality: str, window: Window | None = None, rule: str = WINDOW
) -> np.ndarray:
    """Raw intensities (any shape) to uint8 by ``rule`` (see the module docstring)."""
    volume = _as_real_array(volume, "volume")
    if rule not in INTENSITY_RULES:
        raise ValueError(f"rule must be one of {INTENSITY_RULES}, got {rule!r}")
    kind = canonical_modality(modality)
    if window is None and kind == "CT":
        window = DEFAULT_CT_WINDOW
    if window is not None:
        low, high = window_bounds(window)
        return _stretch(volume, low, high) if rule == OFFICIAL else _scale(volume, low, high)
    if kind == "US" and volume.dtype == np.uint8:
        return volume
    return percentile_to_uint8(volume, rule)


def percentile_to_uint8(volume: np.ndarray, rule: str = WINDOW) -> np.ndarray:
    """Clip to the 0.5-99.5 percentiles of the foreground, map to [0, 255]; 0 stays 0.

    Foreground: voxels > 0 under the official rule (so negative values, e.g. some MR
    reconstructions, clip to the low end), != 0 under the window rule.
    """
    volume = _as_real_array(volume, "volume")
    if rule == OFFICIAL:
        foreground = volume[volume > 0]
        if foreground.size == 0:
            return np.zeros(volume.shape, np.uint8)
        low, high = np.percentile(foreground, PERCENTILES)  # in the volume's dtype, as MedSAM
        out = _stretch(volume, float(low), float(high))
    else:
        foreground = volume[volume != 0]
        if foreground.size == 0:
            return np.zeros(volume.shape, np.uint8)
        low, high = np.percentile(foreground.astype(np.float32), PERCENTILES)
        out = _scale(volume, float(low), float(high))
    out[volume == 0] = 0
    return out


def _stretch(volume: np.ndarray, low: float, high: float) -> np.ndarray:
    """Official rule: clip to [low, high], stretch the clipped min..max to 0-255, truncate.

    Computed in float64 with the scripts' order of operations, ``(x - min) / (max - min) *
    255``, so the uint8 values are theirs. A constant clipped volume (their division by zero)
    gives zeros.
    """
    cmin = float(np.clip(volume.min(), low, high))
    cmax = float(np.clip(volume.max(), low, high))
    if cmax <= cmin:
        return np.zeros(volume.shape, np.uint8)

    def stretch(part: np.ndarray) -> np.ndarray:
        clipped = np.clip(part.astype(np.float64), low, high)
        return ((clipped - cmin) / (cmax - cmin) * 255.0).astype(np.uint8)

    return _by_slab(volume, stretch)


def _scale(volume: np.ndarray, low: float, high: float) -> np.ndarray:
    """Window rule: clip to [low, high] and map linearly to uint8 [0, 255], rounded (float32)."""
    if high <= low:  # constant image: nothing to show
        return np.zeros(volume.shape, np.uint8)
    gain = np.float32(255.0 / (high - low))

    def scale(part: np.ndarray) -> np.ndarray:
        return np.rint((np.clip(part.astype(np.float32), low, high) - np.float32(low)) * gain)

    return _by_slab(volume, scale)


def _by_slab(volume: np.ndarray, convert) -> np.ndarray:
    """``convert`` applied slab by slab, so a long scan never needs a float copy of itself."""
    out = np.zeros(volume.shape, np.uint8)
    if volume.ndim < 2 or volume.size <= _SLAB_VOXELS:
        out[...] = convert(volume)
        return out
    step = max(1, _SLAB_VOXELS // volume[0].size)
    for i in range(0, len(volume), step):
        out[i : i + step] = convert(volume[i : i + step])
    return out


def _as_real_array(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


class ModelFrames:
    """uint8 slices/frames seen as the model's normalised float32 input, resized on demand.

    ``frames`` is (T, H, W) grayscale or (T, H, W, 3) RGB uint8. ``frames[i]`` gives a
    (3, image_size, image_size) float32 tensor; sam2's inference state indexes it the same way
    it indexes its own preloaded frame tensor.
    """

    def __init__(self, frames: np.ndarray, image_size: int):
        frames = np.asarray(frames)
        if frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got {frames.dtype}")
        if not (frames.ndim == 3 or (frames.ndim == 4 and frames.shape[-1] == 3)):
            raise ValueError(f"frames must be (T, H, W) or (T, H, W, 3), got {frames.shape}")
        if min(frames.shape[:3]) < 1:
            raise ValueError(f"frames must not be empty, got shape {frames.shape}")
        self.frames = frames
        self.image_size = int(image_size)
        self.height = int(frames.shape[1])
        self.width = int(frames.shape[2])
        self._mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def resized_uint8(self, index: int) -> np.ndarray:
        """Slice ``index`` resized to (S, S) or (S, S, 3) uint8, bicubic as PIL does."""
        frame = self.frames[index]
        size = (self.image_size, self.image_size)
        if frame.shape[:2] == size:
            return frame
        image = Image.fromarray(np.ascontiguousarray(frame))
        return np.asarray(image.resize(size, Image.Resampling.BICUBIC))

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.tensor(index)

    def tensor(self, index: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Frame ``index`` as normalised (3, S, S) float32 on ``device``.

        The uint8 pixels travel to the device and are normalised there (4x less to copy, and
        the GPU does the arithmetic).
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} out of range for {len(self)} frames")
        device = torch.device(device)
        pixels = torch.from_numpy(np.array(self.resized_uint8(index), dtype=np.uint8))
        pixels = pixels.to(device, non_blocking=True).float()
        pixels = pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)
        pixels = pixels.expand(3, -1, -1) / 255.0
        mean, std = self._mean.to(device), self._std.to(device)
        return ((pixels - mean) / std).contiguous()

    def as_tensor(self) -> torch.Tensor:
        """All frames as one (T, 3, S, S) float32 tensor (for the reference predictor)."""
        return torch.stack([self[i] for i in range(len(self))])
