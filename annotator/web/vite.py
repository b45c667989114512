"""Resolve the viewer's entry in Vite's build manifest to hashed static file names.

Vite writes `.vite/manifest.json` next to the build (annotator/static/viewer/). The manifest is
found through the static files finders (a source checkout) or in STATIC_ROOT (collectstatic),
and re-read when it changes, so a rebuild needs no restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders

BUILD_DIR = "viewer"
MANIFEST = f"{BUILD_DIR}/.vite/manifest.json"
ENTRY = "src/main.js"


class ViewerNotBuilt(Exception):
    pass


@dataclass(frozen=True)
class Assets:
    scripts: list[str]  # static paths, entry first
    styles: list[str]
    preloads: list[str]


_cache: dict[str, tuple[float, dict]] = {}


def manifest_path() -> Path | None:
    configured = getattr(settings, "VIEWER_MANIFEST", None)
    if configured:
        return Path(configured)
    found = finders.find(MANIFEST)
    if found:
        return Path(found)
    collected = Path(settings.STATIC_ROOT) / MANIFEST
    return collected if collected.exists() else None


def _load(path: Path) -> dict:
    mtime = path.stat().st_mtime
    cached = _cache.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    data = json.loads(path.read_text())
    _cache[str(path)] = (mtime, data)
    return data


def entry_assets(entry: str = ENTRY) -> Assets:
    path = manifest_path()
    if path is None or not path.exists():
        raise ViewerNotBuilt(
            "the viewer is not built: run `npm ci && npm run build` in frontend/ "
            "(then `python manage.py collectstatic` for production)"
        )
    manifest = _load(path)
    if entry not in manifest:
        raise ViewerNotBuilt(f"{entry} is missing from {path}; rebuild the viewer")
    chunk = manifest[entry]
    styles = [f"{BUILD_DIR}/{css}" for css in chunk.get("css", [])]
    preloads = []
    for name in chunk.get("imports", []):
        imported = manifest.get(name, {})
        if "file" in imported:
            preloads.append(f"{BUILD_DIR}/{imported['file']}")
        styles += [f"{BUILD_DIR}/{css}" for css in imported.get("css", [])]
    return Assets(scripts=[f"{BUILD_DIR}/{chunk['file']}"], styles=styles, preloads=preloads)
