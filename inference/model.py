"""Build SAM2-architecture models from this package's own configs (no Hydra global state)."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

# Config names known to the product; a path to another YAML file also works.
MEDSAM2 = "medsam2_t512"
STARTER = "starter_c128"  # bootstrap_model's demo model (CPU-trainable, target crop)
STARTER_LARGE = "starter_s256"  # same family at 256: slower, for tests that need a slow model
TINY_TEST = "tiny_test"

# Same post-processing switches the stock builders apply (MedSAM2's scripts keep them on); a
# config's own ``sam_mask_decoder_extra_args`` win over these.
_POSTPROCESSING = {
    "dynamic_multimask_via_stability": True,
    "dynamic_multimask_stability_delta": 0.05,
    "dynamic_multimask_stability_thresh": 0.98,
}
# The video predictor's extra switches, as the stock video builder sets them.
_VIDEO_EXTRA = {
    "binarize_mask_from_pts_for_mem_enc": True,
    "fill_hole_area": 8,
}


def config_path(config: str | Path) -> Path:
    """Resolve a config name ("medsam2_t512") or a YAML path to an existing file."""
    candidate = Path(config)
    if candidate.suffix in {".yaml", ".yml"} and candidate.is_file():
        return candidate
    named = CONFIG_DIR / f"{config}.yaml"
    if not named.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ValueError(f"unknown model config {config!r}; known: {', '.join(known)}")
    return named


def load_config(config: str | Path):
    """The config; one with ``base: <name>`` is that config with its own keys merged over it."""
    cfg = OmegaConf.load(config_path(config))
    base = cfg.pop("base", None)
    return OmegaConf.merge(load_config(base), cfg) if base else cfg


def build_model(
    config: str | Path,
    device: str | torch.device = "cpu",
    *,
    video_predictor: bool = True,
    training: bool = False,
) -> torch.nn.Module:
    """Instantiate an untrained model from a config.

    video_predictor=True builds sam2's SAM2VideoPredictor (same parameters as SAM2Base, plus the
    inference-state API); training=True builds the plain SAM2Base in train mode.
    """
    cfg = load_config(config)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    if video_predictor and not training:
        model_cfg["_target_"] = "sam2.sam2_video_predictor.SAM2VideoPredictor"
        model_cfg.update(_VIDEO_EXTRA)
    extra = model_cfg.get("sam_mask_decoder_extra_args") or {}
    model_cfg["sam_mask_decoder_extra_args"] = {**_POSTPROCESSING, **extra}
    model = instantiate(model_cfg, _recursive_=True)
    model = model.to(device)
    model.train(training)
    return model


def image_size(config: str | Path) -> int:
    return int(load_config(config).model.image_size)
