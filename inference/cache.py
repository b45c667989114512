"""Process-wide cache of loaded models, so a worker keeps its models in memory between tasks.

Models are keyed by (checkpoint SHA-256, config, device): the same weights under another file
name are not loaded twice, and a file replaced in place is reloaded. Hashing a 156 MB file costs
a fraction of a second, so the hash is remembered per (path, size, mtime).

A worker keeps ``MODELS_PER_WORKER`` models (default 3: one per kind of image where a project
keeps a model per kind), the least recently used leaving first.

One inference at a time per device: wrap each task in ``with device_lock(loaded.device):``
(a GPU runs one volume at a time; queueing beats sharing its memory).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch

from inference.checkpoint import LoadedModel, load_checkpoint, pick_device, sha256_file
from inference.model import MEDSAM2

_Key = tuple[str, str, str]


class ModelCache:
    """LRU of LoadedModel objects; thread-safe."""

    def __init__(self, max_models: int = 2):
        if max_models < 1:
            raise ValueError("max_models must be >= 1")
        self.max_models = max_models
        self._models: OrderedDict[_Key, LoadedModel] = OrderedDict()
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()  # guards the dicts above
        self._load_locks: dict[_Key, threading.Lock] = {}
        self._device_locks: dict[str, threading.Lock] = {}

    def get(
        self,
        path: str | Path,
        config: str | Path = MEDSAM2,
        device: str | torch.device | None = None,
    ) -> LoadedModel:
        """The loaded model for a checkpoint file, loading it on first use."""
        path = Path(path)
        digest = self.sha256(path)
        target = pick_device(device)
        key = (digest, str(config), str(target))
        with self._lock:
            loaded = self._models.get(key)
            if loaded is not None:
                self._models.move_to_end(key)
                return loaded
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:  # one load per key; other keys load in parallel
            try:
                with self._lock:
                    loaded = self._models.get(key)
                if loaded is None:
                    loaded = load_checkpoint(path, config, target)
                    with self._lock:
                        self._models[key] = loaded
                        while len(self._models) > self.max_models:
                            self._models.popitem(last=False)
            finally:
                with self._lock:
                    self._load_locks.pop(key, None)
        return loaded

    def sha256(self, path: str | Path) -> str:
        """SHA-256 of a file, remembered while its size and mtime stay the same."""
        stat = Path(path).stat()
        stamp = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            digest = self._hashes.get(stamp)
        if digest is None:
            digest = sha256_file(path)
            with self._lock:
                self._hashes[stamp] = digest
        return digest

    def device_lock(self, device: str | torch.device) -> threading.Lock:
        """The lock that serialises inference on one device ("cuda" means "cuda:0")."""
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", 0)
        with self._lock:
            return self._device_locks.setdefault(str(dev), threading.Lock())

    def loaded_keys(self) -> list[_Key]:
        with self._lock:
            return list(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self._hashes.clear()


def size_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """How many models a worker process keeps loaded: ``MODELS_PER_WORKER``, default 3, so a
    project with a model per kind of image (CT, MR, echo) does not reload one on every switch."""
    raw = environ.get("MODELS_PER_WORKER", "3").strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"MODELS_PER_WORKER must be a whole number of at least 1, not {raw!r}")
    return int(raw)


_default = ModelCache(size_from_env())


def get_model(
    path: str | Path, config: str | Path = MEDSAM2, device: str | torch.device | None = None
) -> LoadedModel:
    """Process-wide :meth:`ModelCache.get`."""
    return _default.get(path, config, device)


def device_lock(device: str | torch.device) -> threading.Lock:
    """Process-wide :meth:`ModelCache.device_lock`."""
    return _default.device_lock(device)


def default_cache() -> ModelCache:
    return _default
