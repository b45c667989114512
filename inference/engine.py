"""Segment a 3D target or an echo clip with MedSAM2: a volume and prompts go in, a mask comes out.

Usage (the Celery worker calls exactly this)::

    from inference.cache import get_model, device_lock
    from inference.engine import Prompt, SegmentOptions, segment_volume, segment_clip

    loaded = get_model("var/models/MedSAM2_latest.pt", config="medsam2_t512")
    with device_lock(loaded.device):
        mask = segment_volume(
            loaded, volume, "CT",                           # volume: (D, H, W) raw HU
            [Prompt(index=key, box=(x0, y0, x1, y1))],      # box on the key slice, voxel coords
            SegmentOptions(window="abdomen", early_stop_patience=3),
            progress=lambda done, total: ...,
        )                                                   # -> uint8 (D, H, W), 1 = target

3D targets (:func:`segment_volume`): the prompts condition their slices, the mask propagates
forward from the first prompted slice to the end and in reverse from the last prompted slice to
the start, the two directions are united and the largest 3D connected component is kept
(MedSAM2's procedure; with ``early_stop_patience=None`` the result is the reference's).

Refinement: call again with the original prompt plus the new ones. Every prompted slice is a
conditioning slice (SAM2 allows several): positive/negative points (optionally with a box) on any
slice, a box on another slice, or an annotator-corrected slice mask (``Prompt(mask=...)``) that is
used as a mask prompt and returned verbatim on its slice. Prompts on the same slice are merged
(box + points); a mask cannot be combined with a box or points on the same slice.

Echo clips (:func:`segment_clip`): (T, H, W) uint8 grayscale or (T, H, W, 3) RGB frames, a box,
points or mask on a chosen frame, propagated both ways (forward only from frame 0), one mask per
frame, no connected-component step; sam2's post-processing off, as MedSAM2's video script
(``SegmentOptions.postprocess``). A mask-prompted frame keeps the given mask (the annotator's
correction); ``keep_prompt_masks=False`` returns the model's own mask there, as the script does.

Progress: ``progress(done, total)`` after every slice/frame step; ``total`` counts the steps of
both directions (a prompted slice is a step of each), and the steps an early stop skips are
counted as done when it stops, so the last call is always ``(total, total)``.

Coordinates: ``x`` is the column and ``y`` the row of a slice, in voxels of the input grid, in
[0, W] x [0, H]. ``z_range`` / frame ranges are half-open ``(start, stop)`` like ``range``.
Bad inputs raise ``ValueError`` with a message meant for the API's caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from inference import roi
from inference.checkpoint import LoadedModel
from inference.postprocess import largest_component
from inference.preprocess import ModelFrames, Window, intensity_rule, model_pixels
from inference.sam2_adapter import postprocessing
from inference.tracking import FramePrompt, Progress, TrackResult, propagate


@dataclass
class Prompt:
    """User input on one slice/frame (absolute index in the volume or clip)."""

    index: int
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 in voxels
    points: list[tuple[float, float, int]] = field(default_factory=list)  # x, y, 1 pos / 0 neg
    mask: np.ndarray | None = None  # (H, W) bool: corrected slice, used as a mask prompt


@dataclass
class SegmentOptions:
    window: Window | None = None  # CT preset name or (center, width); None: modality default
    early_stop_patience: int | None = 3  # absent slices before a direction stops; None = off
    z_range: tuple[int, int] | None = None  # half-open slice range to segment; None = all
    largest_component: bool = True  # keep the largest 3D component (volumes only)
    target_crop: bool = True  # volumes: the model config's target crop (inference.roi), if any
    # sam2's post-processing; None: as MedSAM2's scripts, on for volumes, off for clips.
    postprocess: bool | None = None
    # A mask prompt (an annotator's corrected slice/frame) is final; False returns the model's
    # own mask there, as MedSAM2's video script does.
    keep_prompt_masks: bool = True


CLIP_DEFAULTS = SegmentOptions(early_stop_patience=None, largest_component=False)


def segment_volume(
    loaded: LoadedModel,
    volume: np.ndarray,
    modality: str,
    prompts: Sequence[Prompt],
    options: SegmentOptions | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Mask (uint8 0/1, shape of ``volume``) of the target the prompts point at."""
    return segment_volume_detailed(loaded, volume, modality, prompts, options, progress)[0]


def segment_volume_detailed(
    loaded: LoadedModel,
    volume: np.ndarray,
    modality: str,
    prompts: Sequence[Prompt],
    options: SegmentOptions | None = None,
    progress: Progress | None = None,
    *,
    keep_logits: bool = False,
) -> tuple[np.ndarray, TrackResult]:
    """:func:`segment_volume` plus what ran (frames visited per direction, frames encoded)."""
    options = options or SegmentOptions()
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3D (D, H, W), got shape {volume.shape}")
    _check_shape(volume.shape, "volume")
    pixels = model_pixels(volume, modality, False, options.window, intensity_rule(loaded.config))
    return _segment(loaded, pixels, prompts, options, progress, keep_logits, is_clip=False)


def segment_clip(
    loaded: LoadedModel,
    frames: np.ndarray,
    prompts: Sequence[Prompt],
    options: SegmentOptions | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Masks (uint8 0/1, shape (T, H, W)) of the object through a cine clip.

    Defaults to no early stop. ``options.largest_component`` is ignored (one mask per frame);
    ``options.z_range`` limits the frames; frames that are not uint8 are scaled like MR.
    """
    return segment_clip_detailed(loaded, frames, prompts, options, progress)[0]


def segment_clip_detailed(
    loaded: LoadedModel,
    frames: np.ndarray,
    prompts: Sequence[Prompt],
    options: SegmentOptions | None = None,
    progress: Progress | None = None,
    *,
    keep_logits: bool = False,
) -> tuple[np.ndarray, TrackResult]:
    options = options or CLIP_DEFAULTS
    frames = np.asarray(frames)
    if not (frames.ndim == 3 or (frames.ndim == 4 and frames.shape[-1] == 3)):
        raise ValueError(f"clip must be (T, H, W) or (T, H, W, 3), got shape {frames.shape}")
    _check_shape(frames.shape[:3], "clip")
    if frames.ndim == 4 and frames.dtype != np.uint8:
        raise ValueError(f"RGB frames must be uint8, got {frames.dtype}")
    frames = model_pixels(frames, "US", True, options.window, intensity_rule(loaded.config))
    return _segment(loaded, frames, prompts, options, progress, keep_logits, is_clip=True)


def _segment(
    loaded: LoadedModel,
    pixels: np.ndarray,
    prompts: Sequence[Prompt],
    options: SegmentOptions,
    progress: Progress | None,
    keep_logits: bool,
    *,
    is_clip: bool,
) -> tuple[np.ndarray, TrackResult]:
    depth, height, width = pixels.shape[:3]
    unit = "frame" if is_clip else "slice"
    start, stop = _check_range(options.z_range, depth, unit)
    patience = _check_patience(options.early_stop_patience)
    frame_prompts = merge_prompts(prompts, depth, height, width, start, stop, unit)
    region = _target_region(loaded, frame_prompts, height, width, options, is_clip)
    model_prompts = roi.crop_prompts(region, frame_prompts) if region else frame_prompts

    postprocess = not is_clip if options.postprocess is None else options.postprocess
    with postprocessing(loaded.model, postprocess):
        result = propagate(
            loaded,
            ModelFrames(region.crop(pixels) if region else pixels, loaded.image_size),
            model_prompts,
            frame_range=(start, stop),
            early_stop_patience=patience,
            progress=progress,
            keep_logits=keep_logits,
        )
    if region is not None:
        result.mask = region.paste(result.mask, height, width)
        result.region = region
    mask = np.zeros((depth, height, width), dtype=bool)
    mask[start:stop] = result.mask
    if options.largest_component and not is_clip:
        mask = largest_component(mask)
    for prompt in frame_prompts if options.keep_prompt_masks else ():
        if prompt.mask is not None:
            mask[start + prompt.frame] = prompt.mask
    return mask.astype(np.uint8), result


def _target_region(loaded, prompts, height, width, options, is_clip) -> roi.Roi | None:
    """The square the model sees, when its config crops to the target (volumes only)."""
    if is_clip or not options.target_crop:
        return None
    context = roi.roi_context(loaded.config)
    bounds = roi.prompt_bounds(prompts) if context else None
    return roi.plan(bounds, height, width, context) if bounds else None


def merge_prompts(
    prompts: Sequence[Prompt],
    depth: int,
    height: int,
    width: int,
    start: int = 0,
    stop: int | None = None,
    unit: str = "slice",
) -> list[FramePrompt]:
    """Validate prompts and merge those on the same slice; indices become relative to start."""
    stop = depth if stop is None else stop
    if isinstance(prompts, Prompt) or not isinstance(prompts, Sequence) or not prompts:
        raise ValueError("prompts must be a non-empty list of Prompt")
    merged: dict[int, FramePrompt] = {}
    for prompt in prompts:
        if not isinstance(prompt, Prompt):
            raise ValueError(f"prompts must be Prompt objects, got {type(prompt).__name__}")
        index = _check_index(prompt.index, depth, start, stop, unit)
        if prompt.box is None and not prompt.points and prompt.mask is None:
            raise ValueError(f"prompt on {unit} {index} has no box, points or mask")
        entry = merged.setdefault(index, FramePrompt(frame=index - start))
        if prompt.box is not None:
            entry.box = _check_box(prompt.box, height, width, index, unit)
        for point in prompt.points:
            x, y, label = _check_point(point, height, width, index, unit)
            entry.points.append((x, y))
            entry.labels.append(label)
        if prompt.mask is not None:
            if entry.mask is not None:
                raise ValueError(f"two mask prompts on {unit} {index}")
            entry.mask = _check_mask(prompt.mask, height, width, index, unit)
        if entry.mask is not None and (entry.box is not None or entry.points):
            raise ValueError(
                f"{unit} {index} has a mask prompt and a box/points: give one or the other"
            )
    return [merged[k] for k in sorted(merged)]


def _check_shape(shape: tuple[int, ...], what: str) -> None:
    if min(shape) < 1:
        raise ValueError(f"{what} is empty: shape {shape}")


def _check_range(z_range: tuple[int, int] | None, depth: int, unit: str) -> tuple[int, int]:
    if z_range is None:
        return 0, depth
    try:
        start, stop = (int(v) for v in z_range)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"z_range must be (start, stop), got {z_range!r}") from exc
    if not 0 <= start < stop <= depth:
        raise ValueError(
            f"z_range {z_range} must satisfy 0 <= start < stop <= {depth} (number of {unit}s)"
        )
    return start, stop


def _check_patience(patience: int | None) -> int | None:
    if patience is None:
        return None
    if isinstance(patience, bool) or not isinstance(patience, int | np.integer) or patience < 1:
        raise ValueError(f"early_stop_patience must be None or an int >= 1, got {patience!r}")
    return int(patience)


def _check_index(index: int, depth: int, start: int, stop: int, unit: str) -> int:
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise ValueError(f"prompt index must be an int, got {index!r}")
    index = int(index)
    if not 0 <= index < depth:
        raise ValueError(f"prompt {unit} index {index} out of range 0..{depth - 1}")
    if not start <= index < stop:
        raise ValueError(f"prompt {unit} {index} lies outside z_range ({start}, {stop})")
    return index


def _check_box(box, height: int, width: int, index: int, unit: str) -> tuple[float, ...]:
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"box on {unit} {index} must be (x0, y0, x1, y1), got {box!r}") from exc
    if not np.isfinite([x0, y0, x1, y1]).all():
        raise ValueError(f"box on {unit} {index} has non-finite coordinates: {box!r}")
    if not (x0 <= x1 and y0 <= y1):
        raise ValueError(f"box on {unit} {index} needs x0 <= x1 and y0 <= y1, got {box!r}")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise ValueError(
            f"box {box!r} on {unit} {index} lies outside the image "
            f"(x in [0, {width}], y in [0, {height}])"
        )
    return x0, y0, x1, y1


def _check_point(point, height: int, width: int, index: int, unit: str):
    try:
        x, y, label = point
        x, y = float(x), float(y)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"point on {unit} {index} must be (x, y, label), got {point!r}") from exc
    if label not in (0, 1):
        raise ValueError(f"point label on {unit} {index} must be 1 or 0, got {label!r}")
    if not (0 <= x <= width and 0 <= y <= height):
        raise ValueError(
            f"point ({x}, {y}) on {unit} {index} lies outside the image "
            f"(x in [0, {width}], y in [0, {height}])"
        )
    return x, y, int(label)


def _check_mask(mask, height: int, width: int, index: int, unit: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != (height, width):
        raise ValueError(
            f"mask prompt on {unit} {index} must have the slice shape {(height, width)}, "
            f"got {mask.shape}"
        )
    if mask.dtype != np.bool_ and not np.isin(mask, (0, 1)).all():
        raise ValueError(f"mask prompt on {unit} {index} must be boolean or 0/1")
    return mask.astype(bool)
