from __future__ import annotations

import shutil
import threading

import pytest

from inference import cache as cache_module
from inference.cache import ModelCache, default_cache, device_lock, get_model, size_from_env
from inference.model import TINY_TEST


def test_same_weights_are_loaded_once(tiny_checkpoint, tmp_path):
    path, digest = tiny_checkpoint
    copy = tmp_path / "copy.pt"
    shutil.copy(path, copy)
    models = ModelCache(max_models=2)
    first = models.get(path, TINY_TEST, "cpu")
    assert first.sha256 == digest
    assert models.get(path, TINY_TEST, "cpu") is first
    assert models.get(copy, TINY_TEST, "cpu") is first  # keyed by content, not by name


def test_least_recently_used_model_is_dropped(tiny_checkpoint, tmp_path):
    from inference.checkpoint import save_checkpoint
    from tests.inference.conftest import tiny_model

    other = tmp_path / "other.pt"
    save_checkpoint(tiny_model(seed=7), other)
    models = ModelCache(max_models=1)
    a = models.get(tiny_checkpoint[0], TINY_TEST, "cpu")
    b = models.get(other, TINY_TEST, "cpu")
    assert a.sha256 != b.sha256
    assert [key[0] for key in models.loaded_keys()] == [b.sha256]
    assert models.get(tiny_checkpoint[0], TINY_TEST, "cpu") is not a  # reloaded


def test_replaced_file_is_reloaded(tiny_checkpoint, tmp_path):
    from inference.checkpoint import save_checkpoint
    from tests.inference.conftest import tiny_model

    path = tmp_path / "m.pt"
    shutil.copy(tiny_checkpoint[0], path)
    models = ModelCache()
    before = models.get(path, TINY_TEST, "cpu")
    save_checkpoint(tiny_model(seed=9), path)
    after = models.get(path, TINY_TEST, "cpu")
    assert after.sha256 != before.sha256


def test_concurrent_requests_load_once(tiny_checkpoint, monkeypatch):
    calls = []
    real = cache_module.load_checkpoint

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_module, "load_checkpoint", counting)
    models = ModelCache()
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(models.get(tiny_checkpoint[0], TINY_TEST, "cpu"))
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 4 and all(r is results[0] for r in results)


def test_one_lock_per_device():
    models = ModelCache()
    assert models.device_lock("cuda") is models.device_lock("cuda:0")
    assert models.device_lock("cuda:1") is not models.device_lock("cuda:0")
    assert models.device_lock("cpu") is not models.device_lock("cuda")
    assert device_lock("cpu") is default_cache().device_lock("cpu")


def test_process_wide_cache(tiny_checkpoint):
    assert get_model(tiny_checkpoint[0], TINY_TEST, "cpu") is get_model(
        tiny_checkpoint[0], TINY_TEST, "cpu"
    )
    default_cache().clear()


def test_bad_size():
    with pytest.raises(ValueError):
        ModelCache(max_models=0)


def test_the_size_comes_from_the_environment():
    assert size_from_env({}) == 3
    assert size_from_env({"MODELS_PER_WORKER": " 5 "}) == 5
    for bad in ("0", "-1", "two", "1.5", ""):
        with pytest.raises(ValueError, match="MODELS_PER_WORKER must be a whole number"):
            size_from_env({"MODELS_PER_WORKER": bad})
