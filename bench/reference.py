"""The reference procedure: MedSAM2's published 3D inference, written on its own from its rules.

Nothing here calls the engine's preprocessing or post-processing, so the engine is checked
against an independent reading of the official procedure (``medsam2_infer_3D_CT.py`` and
MedSAM's MR preprocessing), not against itself:

- 8 bits (:func:`official_uint8`): CT clipped to the window, the clipped volume's own min..max
  stretched to 0-255, truncated by ``np.uint8``; other modalities clipped to the 0.5-99.5
  percentiles of the voxels > 0, stretched and truncated, zeros kept 0. In float64.
- Model input (:func:`official_input`): each slice as an RGB PIL image resized bicubic to the
  model's size, /255 and ImageNet mean/std in float64 (as the script), then float32 (the CPU
  path has no bf16 autocast to absorb float64).
- Predictor (:func:`legacy_predictor`): the class MedSAM2's fork derives from,
  ``sam2.sam2_video_predictor_legacy.SAM2VideoPredictor``, built with the stock video builder's
  settings (stability fallback, binarised point masks for memory, ``fill_hole_area=8``; a
  config's own decoder settings win, as in ``inference.model``) and the loaded model's weights.
  Its ``init_state`` only reads JPEG folders or mp4 files, so ``load_video_frames`` is replaced
  for that call by a function returning the tensor above and the original height/width (what
  MedSAM2's patched ``init_state(images, height, width)`` takes); nothing else is changed.
- Procedure: box on the key slice, ``propagate_in_video``, ``reset_state``, the box again,
  ``propagate_in_video(reverse=True)``, union of the masks > 0, then the largest connected
  component (:func:`largest_cc`, full connectivity as skimage's ``measure.label`` default).

Hole filling runs where the official GPU build runs it, through the same labelling the engine
gives sam2 (``inference.sam2_adapter.enable_hole_filling``; sam2's own rule decides what to fill).
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image
from scipy import ndimage

from inference.checkpoint import LoadedModel
from inference.model import load_config
from inference.sam2_adapter import enable_hole_filling

_PRESETS = json.loads((Path(__file__).parents[1] / "inference" / "ct_windows.json").read_text())
_LEGACY = "sam2.sam2_video_predictor_legacy.SAM2VideoPredictor"
# What sam2's build_sam2_video_predictor sets (apply_postprocessing=True).
_STOCK_VIDEO = {"binarize_mask_from_pts_for_mem_enc": True, "fill_hole_area": 8}
_STOCK_DECODER = {
    "dynamic_multimask_via_stability": True,
    "dynamic_multimask_stability_delta": 0.05,
    "dynamic_multimask_stability_thresh": 0.98,
}
_PREDICTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def official_uint8(
    volume: np.ndarray, modality: str, window: str | tuple[float, float] | None = None
) -> np.ndarray:
    """The official 8-bit conversion; ``window`` is a preset name or (center, width) in HU."""
    data = np.asarray(volume)
    if modality.upper() == "CT" or window is not None:
        if window is None or isinstance(window, str):
            name = window or _PRESETS["default"]
            preset = next(w for w in _PRESETS["windows"] if w["key"] == name)
            window = (preset["center"], preset["width"])
        center, width = float(window[0]), float(window[1])
        lower, upper = center - width / 2, center + width / 2
        clipped = np.clip(data.astype(np.float64), lower, upper)
        return _stretch_truncate(clipped)
    positive = data[data > 0]
    if positive.size == 0:
        return np.zeros(data.shape, np.uint8)
    lower, upper = np.percentile(positive, 0.5), np.percentile(positive, 99.5)
    out = _stretch_truncate(np.clip(data.astype(np.float64), lower, upper))
    out[data == 0] = 0
    return out


def _stretch_truncate(clipped: np.ndarray) -> np.ndarray:
    low, high = np.min(clipped), np.max(clipped)
    if high == low:  # the scripts would divide by zero here
        return np.zeros(clipped.shape, np.uint8)
    return np.uint8((clipped - low) / (high - low) * 255.0)


def official_input(pixels: np.ndarray, image_size: int) -> torch.Tensor:
    """(D, H, W) uint8 → (D, 3, S, S) float32 model input, as the script prepares it."""
    pixels = np.ascontiguousarray(pixels)
    out = np.zeros((len(pixels), 3, image_size, image_size))
    for i, frame in enumerate(pixels):
        rgb = Image.fromarray(frame).convert("RGB")
        resized = rgb.resize((image_size, image_size), Image.Resampling.BICUBIC)
        out[i] = np.asarray(resized).transpose(2, 0, 1)
    images = torch.from_numpy(out / 255.0)
    mean = torch.tensor((0.485, 0.456, 0.406), dtype=torch.float32)[:, None, None]
    std = torch.tensor((0.229, 0.224, 0.225), dtype=torch.float32)[:, None, None]
    return ((images - mean) / std).float()


def largest_cc(segmentation: np.ndarray) -> np.ndarray:
    """The largest connected component (full connectivity), as the scripts' getLargestCC."""
    structure = ndimage.generate_binary_structure(segmentation.ndim, segmentation.ndim)
    labels, _ = ndimage.label(segmentation, structure=structure)
    return labels == np.argmax(np.bincount(labels.flat)[1:]) + 1


def legacy_predictor(loaded: LoadedModel) -> torch.nn.Module:
    """The legacy sam2 video predictor with ``loaded``'s weights (built once per model)."""
    predictor = _PREDICTORS.get(loaded.model)
    if predictor is None:
        cfg = OmegaConf.to_container(load_config(loaded.config).model, resolve=True)
        cfg.update({"_target_": _LEGACY, **_STOCK_VIDEO})
        cfg["sam_mask_decoder_extra_args"] = {
            **_STOCK_DECODER,
            **(cfg.get("sam_mask_decoder_extra_args") or {}),
        }
        predictor = instantiate(cfg, _recursive_=True)
        predictor.load_state_dict(loaded.model.state_dict(), strict=True)
        predictor = predictor.to(loaded.device).eval()
        _PREDICTORS[loaded.model] = predictor
    return predictor


def reference_segment(
    loaded: LoadedModel,
    volume: np.ndarray,
    modality: str,
    key_index: int,
    box: tuple[float, float, float, float],
    *,
    window: str | tuple[float, float] | None = None,
    crop: tuple[int, int, int] | None = None,
    largest_component: bool = True,
    keep_logits: bool = False,
) -> tuple[np.ndarray, dict[str, dict[int, np.ndarray]] | None]:
    """(mask uint8 (D, H, W), per-direction logits if asked) of a raw volume, officially.

    ``crop`` = (y0, x0, side): run on that square of every slice of the 8-bit volume (converted
    whole, as the script converts a scan), box in full-slice coordinates, the mask pasted back
    (zero outside); logits are then in the square's grid. For models that see a target crop.
    """
    full = official_uint8(volume, modality, window)
    pixels = full
    if crop is not None:
        y0, x0, side = crop
        pixels = full[:, y0 : y0 + side, x0 : x0 + side]
        box = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
    images = official_input(pixels, loaded.image_size).to(loaded.device)
    height, width = pixels.shape[1:]
    predictor = legacy_predictor(loaded)
    enable_hole_filling()

    def in_memory_frames(*, image_size, compute_device, **_):
        return images.to(compute_device), height, width

    segs = np.zeros(pixels.shape, dtype=np.uint8)
    logits: dict[str, dict[int, np.ndarray]] | None = (
        {"forward": {}, "reverse": {}} if keep_logits else None
    )
    with torch.inference_mode(), loaded.autocast():
        with mock.patch("sam2.sam2_video_predictor_legacy.load_video_frames", in_memory_frames):
            state = predictor.init_state("in-memory volume")
        for name, reverse in (("forward", False), ("reverse", True)):
            predictor.add_new_points_or_box(
                inference_state=state, frame_idx=key_index, obj_id=1, box=np.asarray(box)
            )
            for frame_idx, _, mask_logits in predictor.propagate_in_video(state, reverse=reverse):
                segs[frame_idx, (mask_logits[0] > 0.0).cpu().numpy()[0]] = 1
                if logits is not None:
                    logits[name][frame_idx] = mask_logits[0, 0].float().cpu().numpy()
            predictor.reset_state(state)
    if crop is not None:
        pasted = np.zeros(full.shape, np.uint8)
        pasted[:, y0 : y0 + side, x0 : x0 + side] = segs
        segs = pasted
    if largest_component and segs.max() > 0:
        segs = largest_cc(segs).astype(np.uint8)
    return segs, logits
