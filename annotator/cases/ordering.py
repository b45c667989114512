"""The "balanced" queue order in plain Python: the rule ``selectors.in_queue_order`` writes in SQL,
and what ``bench/loop.py`` simulates (tests check that the two agree).

Why not simply "most doubtful first": in the simulated study (docs/inference.md, "The simulated
study") that order filled each batch with the hardest lesions of one modality. Every candidate
trained on them lost Dice on the ordinary ones, and the gate refused it. Balanced order keeps
the doubt as the reason a case comes early, but:

- **modalities take turns**: the first case of each modality, then the second of each, ...;
- **within a modality the order is a draw weighted by doubt** (Efraimidis-Spirakis: the key
  ``ln(u) / doubt``, largest first, is a weighted sample without replacement). A case the
  model doubts twice as much is twice as likely to come first, and sure cases still turn up, so
  a batch looks like the data with the doubtful cases over-represented.

``u`` is a fixed number in (0, 1) drawn from the case id, so the queue is the same on every
refresh and for every annotator. Cases without a doubt come after the scored ones, modalities in
turn, oldest first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable

DOUBT_FLOOR = 0.02  # a sure case still gets a small weight, so it is not always last
MULTIPLIER = 2654435761  # Knuth's multiplicative hash: spreads consecutive ids over (0, 1)
MODULUS = 2**32


def lottery(case_id: int) -> float:
    """The case's fixed draw in (0, 1)."""
    return ((case_id * MULTIPLIER) % MODULUS + 0.5) / MODULUS


def draw_key(case_id: int, doubt: float) -> float:
    """The weighted-draw key (≤ 0; the larger, the earlier) of a case with ``doubt`` in [0, 1]."""
    return math.log(lottery(case_id)) / max(float(doubt), DOUBT_FLOOR)


def balanced_order(rows: Iterable[tuple[int, Hashable, float | None]]) -> list[int]:
    """The ids of ``(case id, stratum, doubt or None)`` rows in balanced order (module doc).
    Case ids stand for import order."""
    rank: dict[int, int] = {}
    key: dict[int, float] = {}
    groups: dict[tuple[bool, Hashable], list[int]] = defaultdict(list)
    rows = list(rows)
    for case_id, stratum, doubt in rows:
        if doubt is not None:
            key[case_id] = draw_key(case_id, doubt)
        groups[(doubt is None, stratum)].append(case_id)
    for ids in groups.values():
        ids.sort(key=lambda i: (-key[i], i) if i in key else (0.0, i))
        rank.update((case_id, n) for n, case_id in enumerate(ids))
    return sorted(
        (case_id for case_id, _, _ in rows),
        key=lambda i: (i not in key, rank[i], -key.get(i, 0.0), i),
    )
