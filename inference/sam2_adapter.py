"""The one module that touches sam2's internals (the rf-sam-2 wheel, pinned in requirements.txt).

Everything here reproduces or calls something sam2 does not promise to keep: the dictionary
``SAM2VideoPredictor.init_state`` builds (built here from frames in memory, since ``init_state``
only reads files), ``_run_single_frame_inference`` and ``_get_orig_video_res_output`` (tracking
one frame at a time), ``_forward_sam_heads`` (wrapped while a frame is predicted, to read the
mask decoder's predicted IoU and object score: :class:`FrameScore`), and
``_prepare_backbone_features``, ``_track_step`` and ``_encode_memory_in_output`` (training,
which needs every candidate mask and its IoU prediction, which the public ``track_step`` drops).
The rest of ``inference/`` calls sam2 only through its public methods or through this module;
``tests/inference/test_sam2_boundary.py`` enforces that.

Version check (decided: an error, not a warning). The functions here are only right for the
release they were written against: a renamed state key or a changed private signature can fail
loudly, or worse, quietly change the masks. So the first use of :func:`new_inference_state`,
:class:`VideoSession` or :func:`track_clip` raises :class:`Sam2VersionError` when the installed
rf-sam-2 is not :data:`PINNED_VERSION`. The check runs at first use, not at import, so that
importing the package (Django start-up, the test collector) never fails on it. To upgrade:
install the new wheel, compare the private functions used here with their new source, run
``pytest tests/inference``, then move the pin here and in requirements.txt together.

Hole filling. Built with its stock video settings (``fill_hole_area=8``), sam2 fills every
background component of at most 8 pixels of a frame's low-res mask logits with the logit 0.1
(``fill_holes_in_mask_scores``, called in ``_run_single_frame_inference`` after the frame's
memory is encoded, so it changes the frame's stored and returned mask, not its memory; the
conditioning frames' memories are encoded later from the stored masks, so theirs are filled).
The labelling it needs comes from sam2's compiled CUDA extension, which the rf-sam-2 wheel does
not ship, so stock code warns and skips the step. :func:`enable_hole_filling` gives sam2 that
labelling (:func:`connected_components`, scipy on the host, for CPU and GPU tensors); sam2's own
rule then runs unchanged, where and when the official build runs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.metadata
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from scipy import ndimage

DISTRIBUTION = "rf-sam-2"
PINNED_VERSION = "1.0.3"

# The parameters of the mask decoder's object-score MLP (SAM2Base builds it as
# ``sam_mask_decoder.pred_obj_score_head``): whether the object is on a frame, which decides
# where propagation goes on and where it stops. A round trains it slower (inference/replay.py).
OBJECT_SCORE_HEAD = "sam_mask_decoder.pred_obj_score_head."
MASK_DECODER = "sam_mask_decoder."  # the whole decoder: masks, IoU, object score

# Keys of the dict ``init_state`` returns, and of sam2's per-frame output dicts and point inputs.
# Only this module may index sam2 state with them (the boundary test reads these tuples).
STATE_KEYS = (
    "images",
    "num_frames",
    "offload_video_to_cpu",
    "offload_state_to_cpu",
    "video_height",
    "video_width",
    "device",
    "storage_device",
    "point_inputs_per_obj",
    "mask_inputs_per_obj",
    "cached_features",
    "constants",
    "obj_id_to_idx",
    "obj_idx_to_id",
    "obj_ids",
    "output_dict_per_obj",
    "temp_output_dict_per_obj",
    "frames_tracked_per_obj",
)
OUTPUT_KEYS = (
    "cond_frame_outputs",
    "non_cond_frame_outputs",
    "point_inputs",
    "mask_inputs",
    "pred_masks",
    "pred_masks_high_res",
    "obj_ptr",
    "object_score_logits",
    "maskmem_features",
    "maskmem_pos_enc",
    "point_coords",
    "point_labels",
)
BOX_CORNER_LABELS = (2, 3)  # sam2 encodes a box as two points labelled top-left, bottom-right


class Sam2VersionError(RuntimeError):
    """The installed sam2 is not the release this adapter was written against."""


@functools.cache
def check_version() -> str:
    """The installed rf-sam-2 version; raises :class:`Sam2VersionError` unless it is the pin."""
    try:
        installed = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise Sam2VersionError(
            f"sam2 must come from the {DISTRIBUTION}=={PINNED_VERSION} wheel "
            f"(pip install -r requirements.txt); {DISTRIBUTION} is not installed"
        ) from None
    if installed != PINNED_VERSION:
        raise Sam2VersionError(
            f"{DISTRIBUTION} {installed} is installed but inference/sam2_adapter.py is written "
            f"for {PINNED_VERSION}: install {DISTRIBUTION}=={PINNED_VERSION}, or port the adapter "
            "(see its docstring) and move the pin"
        )
    return installed


def pin_object_score(model: torch.nn.Module, bias: float) -> None:
    """Set the object-score head's output bias (tests and diagnostics: a large positive value
    says the object is on every frame, a large negative one on none)."""
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(bias)


def connected_components(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What sam2's CUDA ``get_connected_componnets`` returns for (N, 1, H, W) binary masks.

    (labels, areas), both (N, 1, H, W) int32 on the mask's device: 8-connected components of
    the non-zero pixels numbered from 1 per image (0 = background), and for each pixel the area
    of its component (0 on background).
    """
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"masks must be (N, 1, H, W), got {tuple(mask.shape)}")
    host = mask.detach().to("cpu", torch.uint8).numpy() != 0
    labels = np.zeros(host.shape, np.int32)
    areas = np.zeros(host.shape, np.int32)
    eight = np.ones((3, 3), dtype=bool)
    for i in range(host.shape[0]):
        labels[i, 0], _ = ndimage.label(host[i, 0], structure=eight)
        sizes = np.bincount(labels[i, 0].ravel())
        sizes[0] = 0
        areas[i, 0] = sizes[labels[i, 0]]
    return (torch.from_numpy(labels).to(mask.device), torch.from_numpy(areas).to(mask.device))


@functools.cache
def enable_hole_filling() -> bool:
    """Let sam2's hole filling run without its CUDA extension; True if this installed ours.

    With the extension present (a source build of sam2) nothing changes.
    """
    import sam2.utils.misc

    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        sam2.utils.misc.get_connected_components = connected_components
        return True
    return False


@contextlib.contextmanager
def postprocessing(model: torch.nn.Module, enabled: bool):
    """Run with the stock video builder's post-processing as built (``enabled``) or without it.

    Without: what ``build_sam2_video_predictor(apply_postprocessing=False)`` builds, which
    MedSAM2's video script uses: no stability fallback to the multi-mask outputs, no hole
    filling, point-prompted masks not binarised for memory. The model is shared between
    requests, so the switches are restored on exit; callers hold ``inference.cache.device_lock``.
    """
    if enabled:
        yield
        return
    decoder = model.sam_mask_decoder
    saved = (
        decoder.dynamic_multimask_via_stability,
        model.fill_hole_area,
        model.binarize_mask_from_pts_for_mem_enc,
    )
    decoder.dynamic_multimask_via_stability = False
    model.fill_hole_area = 0
    model.binarize_mask_from_pts_for_mem_enc = False
    try:
        yield
    finally:
        (
            decoder.dynamic_multimask_via_stability,
            model.fill_hole_area,
            model.binarize_mask_from_pts_for_mem_enc,
        ) = saved


class FeatureStore(Protocol):
    """What sam2 reads ``state["cached_features"]`` through.

    sam2's ``_get_image_feature`` calls ``get(frame_idx, (None, None))`` and, on a miss, replaces
    the whole entry with a one-frame dict; a store that never misses (encodes on ``get``) keeps
    its place for the whole request.
    """

    def get(self, frame_idx: int, default=None) -> tuple[torch.Tensor, dict]: ...


def new_inference_state(
    images: Sequence[torch.Tensor],
    height: int,
    width: int,
    device: torch.device,
    features: FeatureStore,
) -> dict:
    """The dict ``SAM2VideoPredictor.init_state`` builds, from frames in memory.

    ``images[i]`` is frame i as a (3, S, S) float tensor; no frame is encoded up front (stock
    ``init_state`` encodes frame 0).
    """
    check_version()
    enable_hole_filling()
    values = {
        "images": images,
        "num_frames": len(images),
        "offload_video_to_cpu": False,
        "offload_state_to_cpu": False,
        "video_height": int(height),
        "video_width": int(width),
        "device": device,
        "storage_device": device,
        "point_inputs_per_obj": {},
        "mask_inputs_per_obj": {},
        "cached_features": features,
        "constants": {},
        "obj_id_to_idx": OrderedDict(),
        "obj_idx_to_id": OrderedDict(),
        "obj_ids": [],
        "output_dict_per_obj": {},
        "temp_output_dict_per_obj": {},
        "frames_tracked_per_obj": {},
    }
    return {key: values[key] for key in STATE_KEYS}


@dataclasses.dataclass(frozen=True)
class FrameScore:
    """The model's own confidence in one frame's mask, from sam2's mask decoder.

    ``iou``: the predicted IoU of the mask sam2 chose (the best of the multi-mask outputs, or the
    single one); ``object_score``: the object-score logit (> 0: the object is present). Both None
    on a mask-prompted frame, whose mask is the prompt, not a prediction.
    """

    iou: float | None
    object_score: float | None


@contextlib.contextmanager
def _recording_heads(model: torch.nn.Module, sink: list):
    """Record what ``_forward_sam_heads`` returns while inside (the public ``track_step`` drops
    the predicted IoUs); the model is shared, so the instance attribute is removed on exit."""
    original = model._forward_sam_heads

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        sink.append(out)
        return out

    model._forward_sam_heads = recording
    try:
        yield
    finally:
        del model._forward_sam_heads


def _score(sink: list) -> FrameScore | None:
    if not sink:
        return None
    ious, object_logits = sink[-1][2], sink[-1][6]
    return FrameScore(float(ious.float().max(dim=-1).values[0]), float(object_logits.float()[0, 0]))


class VideoSession:
    """One object tracked by a ``SAM2VideoPredictor`` through frames in memory, frame by frame.

    Add the prompts, :meth:`start`, then per direction :meth:`restart` and :meth:`track` each frame
    in order. Conditioning (prompted) frames keep the outputs computed once at :meth:`start`.
    After each :meth:`track`, :attr:`last_score` is that frame's :class:`FrameScore`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        images: Sequence[torch.Tensor],
        height: int,
        width: int,
        device: torch.device,
        features: FeatureStore,
        obj_id: int = 1,
    ):
        self.model, self.obj_id = model, obj_id
        self.state = new_inference_state(images, height, width, device, features)
        self._outputs: dict | None = None
        self._tracked: dict | None = None
        self._cond_scores: dict[int, FrameScore] = {}
        self.last_score: FrameScore | None = None

    def add_points_or_box(
        self,
        frame: int,
        points: torch.Tensor | None,
        labels: torch.Tensor | None,
        box: torch.Tensor | None,
    ) -> None:
        sink: list = []
        with _recording_heads(self.model, sink):
            self.model.add_new_points_or_box(
                self.state, frame, self.obj_id, points=points, labels=labels, box=box
            )
        self._cond_scores[frame] = _score(sink) or FrameScore(None, None)

    def add_mask(self, frame: int, mask: torch.Tensor) -> None:
        self.model.add_new_mask(self.state, frame, self.obj_id, mask)
        self._cond_scores[frame] = FrameScore(None, None)

    def start(self) -> None:
        """Turn the prompts into conditioning outputs (``propagate_in_video``'s preflight)."""
        self.model.propagate_in_video_preflight(self.state)
        obj_idx = self.state["obj_id_to_idx"][self.obj_id]
        self._outputs = self.state["output_dict_per_obj"][obj_idx]
        self._tracked = self.state["frames_tracked_per_obj"][obj_idx]

    def restart(self) -> None:
        """Forget tracked frames but keep the conditioning outputs: what ``reset_state`` and
        re-adding the same prompts leave behind, without computing them again."""
        self._outputs["non_cond_frame_outputs"].clear()
        self._tracked.clear()

    def track(self, frame_idx: int, reverse: bool) -> torch.Tensor:
        """(H, W) mask logits of one frame in the video's own grid, as ``propagate_in_video``
        computes them; the frame's output joins the memory of the frames after it."""
        outputs, state = self._outputs, self.state
        cond_out = outputs["cond_frame_outputs"].get(frame_idx)
        if cond_out is not None:
            low_res = cond_out["pred_masks"].to(state["device"], non_blocking=True)
            self.last_score = self._cond_scores.get(frame_idx, FrameScore(None, None))
        else:
            sink: list = []
            with _recording_heads(self.model, sink):
                current_out, low_res = self.model._run_single_frame_inference(
                    inference_state=state,
                    output_dict=outputs,
                    frame_idx=frame_idx,
                    batch_size=1,
                    is_init_cond_frame=False,
                    point_inputs=None,
                    mask_inputs=None,
                    reverse=reverse,
                    run_mem_encoder=True,
                )
            outputs["non_cond_frame_outputs"][frame_idx] = current_out
            self.last_score = _score(sink)
        self._tracked[frame_idx] = {"reverse": reverse}
        _, video_res = self.model._get_orig_video_res_output(state, low_res)
        return video_res[0, 0]


def blanked(mask_logits: torch.Tensor) -> torch.Tensor:
    """Per mask of (B, M, H, W) logits from :func:`track_clip`: whether sam2 blanked it (its
    object head called the frame empty, so every logit is ``NO_OBJ_SCORE``, with no gradient)."""
    from sam2.modeling.sam2_base import NO_OBJ_SCORE

    return (mask_logits == NO_OBJ_SCORE).flatten(2).all(-1)


@contextlib.contextmanager
def _iou_head_reads_detached(model: torch.nn.Module):
    """While tracking for training, the IoU head reads a detached copy of its token, so the IoU
    loss trains the head alone. Its cross-entropy gradient (predicted - real IoU, large while the
    head is uncalibrated) otherwise reaches the decoder and encoder the masks come from: one CT
    round with it fell from CT Dice 0.94 to 0.63 on the study's cohort, 0.94 with the token
    detached (docs/inference.md, "The IoU head's loss stays in the IoU head")."""
    head = model.sam_mask_decoder.iou_prediction_head
    handle = head.register_forward_pre_hook(lambda _module, args: (args[0].detach(), *args[1:]))
    try:
        yield
    finally:
        handle.remove()


def track_clip(
    model: torch.nn.Module, frames: torch.Tensor, boxes: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Track a batch of clips (T, B, 3, S, S) from a box (B, 4) on frame 0, with gradients.

    Per frame: (every candidate mask's high-res logits (B, M, S, S), their predicted IoUs (B, M),
    object-score logits (B, 1)), what SAM2's training loss needs. The predicted IoUs carry
    gradient to the IoU head only (:func:`_iou_head_reads_detached`).
    """
    check_version()
    with _iou_head_reads_detached(model):
        return _track_clip(model, frames, boxes)


def _track_clip(
    model: torch.nn.Module, frames: torch.Tensor, boxes: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    steps, batch = frames.shape[:2]
    flat = frames.reshape(steps * batch, *frames.shape[2:])
    backbone = model.forward_image(flat)
    _, feats, pos, sizes = model._prepare_backbone_features(backbone)
    output_dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
    point_inputs = {
        "point_coords": boxes.view(batch, 2, 2).to(frames.device),
        "point_labels": torch.tensor(
            [BOX_CORNER_LABELS], dtype=torch.int32, device=frames.device
        ).expand(batch, 2),
    }
    outs = []
    for t in range(steps):
        sl = slice(t * batch, (t + 1) * batch)
        cur_feats = [f[:, sl].contiguous() for f in feats]
        cur_pos = [p[:, sl].contiguous() for p in pos]
        is_cond = t == 0
        current_out, sam_outputs, _, _ = model._track_step(
            frame_idx=t,
            is_init_cond_frame=is_cond,
            current_vision_feats=cur_feats,
            current_vision_pos_embeds=cur_pos,
            feat_sizes=sizes,
            point_inputs=point_inputs if is_cond else None,
            mask_inputs=None,
            output_dict=output_dict,
            num_frames=steps,
            track_in_reverse=False,
            prev_sam_mask_logits=None,
        )
        _, high_multi, ious, low_masks, high_masks, obj_ptr, obj_logits = sam_outputs
        current_out["pred_masks"] = low_masks
        current_out["pred_masks_high_res"] = high_masks
        current_out["obj_ptr"] = obj_ptr
        current_out["object_score_logits"] = obj_logits
        model._encode_memory_in_output(
            cur_feats, sizes, point_inputs if is_cond else None, True, high_masks, obj_logits,
            current_out,
        )  # fmt: skip
        key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
        output_dict[key][t] = current_out
        outs.append((high_multi, ious, obj_logits))
    return outs
