"""Download the published MedSAM2 weights (Hugging Face repo ``wanglab/MedSAM2``).

One command for a machine with internet::

    python -m inference.fetch latest --dest var/models      # or ct_lesion, mri_liver, us_heart

The file is streamed to a temporary file next to its destination, checked to load strictly into
the ``medsam2_t512`` config, and only then renamed into place, so a failed or partial download
never leaves a file that looks usable. ``MEDSAM2_WEIGHTS_URL`` (or ``base_url=``) points at a
mirror.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inference.checkpoint import CheckpointError, load_checkpoint
from inference.model import MEDSAM2

DEFAULT_BASE_URL = "https://huggingface.co/wanglab/MedSAM2/resolve/main"
BASE_URL_ENV = "MEDSAM2_WEIGHTS_URL"
VARIANTS = {
    "latest": "MedSAM2_latest.pt",
    "ct_lesion": "MedSAM2_CTLesion.pt",
    "mri_liver": "MedSAM2_MRI_LiverLesion.pt",
    "us_heart": "MedSAM2_US_Heart.pt",
}
_CHUNK = 1 << 20

FetchProgress = Callable[[int, int | None], None]  # (bytes done, total bytes or None)


class FetchError(Exception):
    """A download failed, was truncated, or did not give a loadable checkpoint."""


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    size: int
    downloaded: bool  # False when the file was already there


def weights_url(variant: str, base_url: str | None = None) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown weights variant {variant!r}; known: {', '.join(VARIANTS)}")
    base = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return f"{base.rstrip('/')}/{VARIANTS[variant]}"


def fetch_weights(
    variant: str = "latest",
    dest_dir: str | Path = "var/models",
    *,
    base_url: str | None = None,
    config: str | Path = MEDSAM2,
    progress: FetchProgress | None = None,
    overwrite: bool = False,
    timeout: float = 60.0,
) -> Fetched:
    """Download one variant into ``dest_dir`` (kept under its published file name)."""
    url = weights_url(variant, base_url)
    dest = Path(dest_dir) / VARIANTS[variant]
    if dest.exists() and not overwrite:
        with contextlib.suppress(FetchError):  # a broken leftover is downloaded again
            digest = _verify(dest, config, url)
            return Fetched(dest, digest, dest.stat().st_size, downloaded=False)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            size = _download(url, out, progress, timeout)
            out.flush()
            os.fsync(out.fileno())
        digest = _verify(tmp, config, url)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return Fetched(dest, digest, size, downloaded=True)


def _download(url: str, out, progress: FetchProgress | None, timeout: float) -> int:
    request = urllib.request.Request(url, headers={"User-Agent": "medsam2-annotator"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress is not None:
                progress(done, total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise FetchError(f"download of {url} failed: {exc.reason}") from exc
    except (http.client.HTTPException, OSError) as exc:  # reset, timeout, incomplete read
        raise FetchError(f"download of {url} broke off: {type(exc).__name__}: {exc}") from exc
    if total is not None and done != total:
        raise FetchError(f"download of {url} is truncated: got {done} of {total} bytes")
    if done == 0:
        raise FetchError(f"download of {url} gave an empty file")
    return done


def _verify(path: Path, config: str | Path, url: str) -> str:
    try:
        loaded = load_checkpoint(path, config, device="cpu")
    except CheckpointError as exc:
        raise FetchError(f"{url} did not give a usable checkpoint: {exc}") from exc
    return loaded.sha256


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download published MedSAM2 weights.")
    parser.add_argument("variant", nargs="?", default="latest", choices=sorted(VARIANTS))
    parser.add_argument("--dest", default="var/models", help="directory (default var/models)")
    parser.add_argument("--base-url", default=None, help=f"mirror (default {DEFAULT_BASE_URL})")
    parser.add_argument("--overwrite", action="store_true", help="download even if present")
    parser.add_argument("--config", default=MEDSAM2, help="config to verify against")
    args = parser.parse_args(argv)

    def show(done: int, total: int | None) -> None:
        mb = done / 1e6
        line = f"{mb:8.1f} / {total / 1e6:.1f} MB" if total else f"{mb:8.1f} MB"
        print(f"\r{line}", end="", file=sys.stderr, flush=True)

    try:
        got = fetch_weights(
            args.variant,
            args.dest,
            base_url=args.base_url,
            config=args.config,
            progress=show,
            overwrite=args.overwrite,
        )
    except FetchError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    state = "downloaded" if got.downloaded else "already present"
    print(f"{got.path} ({state}, {got.size} bytes, sha256 {got.sha256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
