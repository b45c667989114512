"""Puts the repository root on ``sys.path`` for a bench run as ``python bench/<name>.py``.

Python then puts only ``bench/`` on the path, so ``inference``, ``annotator`` and ``bench.*``
would not import. Each bench does ``import repo_path  # noqa: F401`` before its project imports.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
