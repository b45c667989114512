"""Bidirectional SAM2 propagation over in-memory frames, one object, features computed once.

This drives sam2's own per-frame machinery (``SAM2VideoPredictor.add_new_points_or_box``,
``add_new_mask``, ``propagate_in_video_preflight`` and the per-frame inference, from the pinned
rf-sam-2 wheel, through :mod:`inference.sam2_adapter`) with three changes to how the reference
scripts use it:

- The inference state is built from a :class:`~inference.preprocess.ModelFrames` object instead
  of a JPEG folder or mp4 (``init_state`` only reads files), and frame 0 is not encoded up front.
- sam2 caches the image features of ONE frame in its inference state; here that entry is a
  :class:`FeatureCache` that encodes a frame on first use and keeps the conditioning frames for
  the whole request, so no slice is encoded twice (the reference re-encodes the key slice for the
  reverse pass, and frame 0 at ``init_state``).
- The reference runs forward, ``reset_state``, re-adds the box and runs in reverse. Here the
  conditioning outputs are computed once and the reverse pass starts from them with the forward
  pass's non-conditioning memories cleared, which is what ``reset_state`` + re-adding the same
  prompt leaves behind. With early stopping off the masks are the reference's.

Optional early stop: a direction ends once the object has been absent (no positive pixel; a
negative object score implies that) on ``patience`` consecutive frames beyond the last
conditioning frame in that direction.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from inference.checkpoint import LoadedModel
from inference.preprocess import ModelFrames
from inference.roi import Roi
from inference.sam2_adapter import FrameScore, VideoSession

OBJ_ID = 1  # one object per request
Progress = Callable[[int, int], None]


@dataclass
class FramePrompt:
    """Model-ready prompt on one frame (frame index relative to the tracked range)."""

    frame: int
    box: tuple[float, float, float, float] | None = None
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    mask: np.ndarray | None = None  # (H, W) bool


@dataclass
class TrackResult:
    mask: np.ndarray  # (T, H, W) bool: union of both directions, range-relative frames
    visited: dict[str, list[int]]  # frames run per direction, in processing order
    stopped_early: dict[str, bool]
    encoded_frames: list[int]  # frames whose image features were computed, in order
    logits: dict[str, dict[int, np.ndarray]] | None = None  # per direction, if asked for
    region: Roi | None = None  # the target crop the model saw (logits are in its grid)
    # The model's confidence per frame it predicted (range-relative frames): sam2's predicted IoU
    # and object-score logit; of a frame run in both directions, the more confident one.
    scores: dict[int, FrameScore] = field(default_factory=dict)
    start: int = 0  # the range's first frame in the whole volume (absolute = start + relative)
    # 1 - Dice between the two directions' masks on the unprompted frames both predicted
    # (between the first and the last prompted frame); None when no frame was run both ways,
    # as with a single prompt. One piece of evidence of inference.qc.uncertainty.
    disagreement: float | None = None

    def absolute_scores(self) -> dict[int, FrameScore]:
        """:attr:`scores` keyed by the frame's index in the whole volume or clip."""
        return {self.start + frame: score for frame, score in self.scores.items()}


class FrameRange(Sequence):
    """Frames ``start..stop-1`` of a ModelFrames seen as a video of their own."""

    def __init__(self, frames: ModelFrames, start: int, stop: int):
        self.frames, self.start, self.stop = frames, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.tensor(index)

    def tensor(self, index: int, device: torch.device | str = "cpu") -> torch.Tensor:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.frames.tensor(self.start + index, device)


class FeatureCache:
    """Stands in for sam2's one-entry feature cache (an ``inference.sam2_adapter.FeatureStore``).

    ``get(frame)`` returns ``(image, backbone_out)`` as sam2 expects, encoding the frame on first
    use. Pinned (conditioning) frames stay for the whole request; other frames are visited once
    per request, so only the last ``keep_recent`` of them are kept.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        images: FrameRange,
        device: torch.device,
        keep_recent: int = 2,
    ):
        self.model, self.images, self.device = model, images, device
        self.keep_recent = keep_recent
        self.pinned: set[int] = set()
        self.encoded: list[int] = []
        self._store: OrderedDict[int, tuple[torch.Tensor, dict]] = OrderedDict()

    def get(self, frame_idx: int, default=None):
        entry = self._store.get(frame_idx)
        if entry is None:
            image = self.images.tensor(frame_idx, self.device).unsqueeze(0)
            entry = (image, self.model.forward_image(image))
            self.encoded.append(frame_idx)
            self._store[frame_idx] = entry
        self._store.move_to_end(frame_idx)
        unpinned = [k for k in self._store if k not in self.pinned]
        for k in unpinned[: max(0, len(unpinned) - self.keep_recent)]:
            del self._store[k]
        return entry

    def __getitem__(self, frame_idx: int):
        return self.get(frame_idx)

    def __contains__(self, frame_idx: object) -> bool:
        return frame_idx in self._store

    def __len__(self) -> int:
        return len(self._store)


def propagate(
    loaded: LoadedModel,
    frames: ModelFrames,
    prompts: Sequence[FramePrompt],
    *,
    frame_range: tuple[int, int] | None = None,
    early_stop_patience: int | None = None,
    progress: Progress | None = None,
    keep_logits: bool = False,
) -> TrackResult:
    """Condition on ``prompts`` and propagate both ways through ``frame_range`` (half-open).

    Forward runs from the first conditioning frame to the end of the range, reverse from the last
    conditioning frame to the start (sam2 starts both at the first; with one prompt they agree).
    Prompt frame indices are relative to the range. Returns the union of both directions.
    """
    start, stop = frame_range if frame_range is not None else (0, len(frames))
    images = FrameRange(frames, start, stop)
    num = len(images)
    if not prompts:
        raise ValueError("at least one prompt is needed")
    cond = sorted({p.frame for p in prompts})
    model, device = loaded.model, loaded.device
    plan = {
        "forward": list(range(cond[0], num)),
        # Like sam2: no reverse pass when the last prompt is on frame 0.
        "reverse": list(range(cond[-1], -1, -1)) if cond[-1] > 0 else [],
    }
    total = sum(len(order) for order in plan.values())
    done = 0
    union = np.zeros((num, frames.height, frames.width), dtype=bool)
    visited: dict[str, list[int]] = {name: [] for name in plan}
    stopped = dict.fromkeys(plan, False)
    scores: dict[int, FrameScore] = {}
    agreement = _Agreement(between=set(range(cond[0] + 1, cond[-1])) - set(cond))
    logits: dict[str, dict[int, np.ndarray]] | None = (
        {name: {} for name in plan} if keep_logits else None
    )

    with torch.inference_mode(), loaded.autocast():
        cache = FeatureCache(model, images, device)
        cache.pinned.update(cond)
        session = VideoSession(model, images, frames.height, frames.width, device, cache, OBJ_ID)
        for prompt in prompts:
            _add_prompt(session, prompt)
        session.start()

        for name, order in plan.items():
            reverse = name == "reverse"
            session.restart()  # the conditioning outputs only, as after reset_state
            last_cond = cond[0] if reverse else cond[-1]
            absent = 0
            for frame_idx in order:
                frame_logits = session.track(frame_idx, reverse)
                frame_mask = (frame_logits > 0.0).cpu().numpy()
                union[frame_idx] |= frame_mask
                agreement.add(name, frame_idx, frame_mask)
                _keep_best(scores, frame_idx, session.last_score)
                if logits is not None:
                    logits[name][frame_idx] = frame_logits.float().cpu().numpy()
                visited[name].append(frame_idx)
                done += 1
                beyond_prompts = frame_idx < last_cond if reverse else frame_idx > last_cond
                absent = absent + 1 if beyond_prompts and not frame_mask.any() else 0
                if (
                    early_stop_patience is not None
                    and absent >= early_stop_patience
                    and frame_idx != order[-1]
                ):
                    stopped[name] = True
                    done += len(order) - len(visited[name])  # skipped frames count as done
                if progress is not None:
                    progress(done, total)
                if stopped[name]:
                    break
        encoded = list(cache.encoded)

    return TrackResult(
        mask=union,
        visited=visited,
        stopped_early=stopped,
        encoded_frames=encoded,
        logits=logits,
        scores=scores,
        start=start,
        disagreement=agreement.disagreement(),
    )


class _Agreement:
    """Voxel overlap of the two directions on the frames ``between`` the prompts."""

    def __init__(self, between: set[int]):
        self.between = between
        self.first: dict[int, np.ndarray] = {}  # the first direction's masks there
        self.both = self.overlap = self.total = 0

    def add(self, direction: str, frame: int, mask: np.ndarray) -> None:
        if frame not in self.between:
            return
        if direction == "forward":
            self.first[frame] = mask
            return
        other = self.first.get(frame)
        if other is None:  # the forward pass stopped early before this frame
            return
        self.both += 1
        self.overlap += int(np.count_nonzero(other & mask))
        self.total += int(np.count_nonzero(other)) + int(np.count_nonzero(mask))

    def disagreement(self) -> float | None:
        if not self.both:
            return None
        return 0.0 if self.total == 0 else 1.0 - 2.0 * self.overlap / self.total


def _keep_best(scores: dict[int, FrameScore], frame: int, score: FrameScore | None) -> None:
    if score is None:
        return
    held = scores.get(frame)
    if held is None or (score.iou is not None and (held.iou is None or score.iou > held.iou)):
        scores[frame] = score


def _add_prompt(session: VideoSession, prompt: FramePrompt) -> None:
    if prompt.mask is not None:
        session.add_mask(prompt.frame, torch.from_numpy(prompt.mask))
        return
    points = labels = None
    if prompt.points:
        points = torch.tensor(prompt.points, dtype=torch.float32)
        labels = torch.tensor(prompt.labels, dtype=torch.int32)
    box = None if prompt.box is None else torch.tensor(prompt.box, dtype=torch.float32)
    session.add_points_or_box(prompt.frame, points, labels, box)
