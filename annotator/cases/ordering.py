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

**The evaluation sample** (both orders that follow doubt). A round's gate judges a candidate on
the accepted cases its snapshot holds out (``modelops.rounds.case_split``: a case whose
:func:`evaluation_draw` falls below the project's held-out fraction). If the queue served cases
by doubt alone, the held-out cases would be the hardest ones, and the simulated study saw a
candidate promoted on hard held-out lesions that lost 0.557 of CT Dice on ordinary ones. So the
cases the split will hold out form a stream of their own, in import order, whatever the model's
doubt, and the two streams are interleaved at their shares: with 20% held out, one case in
five comes from the sample. The held-out set then is a draw from the project, not from what the
model doubts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable

DOUBT_FLOOR = 0.02  # a sure case still gets a small weight, so it is not always last
MULTIPLIER = 2654435761  # Knuth's multiplicative hash: spreads consecutive ids over (0, 1)
MODULUS = 2**32
# A second multiplicative hash for the evaluation sample, so that being held out says nothing of
# a case's lottery (tests check the two draws are uncorrelated).
SAMPLE_MULTIPLIER = 3144134277  # (√3 - 1)·2³²: a sample spread evenly over import order
DEFAULT_SAMPLE = 0.2  # the held-out fraction of a project without a round policy
SHARE_FLOOR = 1e-9  # a stream's share is never 0, so its turn is never a division by zero


def lottery(case_id: int) -> float:
    """The case's fixed draw in (0, 1)."""
    return ((case_id * MULTIPLIER) % MODULUS + 0.5) / MODULUS


def evaluation_draw(case_id: int) -> float:
    """The case's fixed place in (0, 1) for the evaluation sample: held out below the fraction."""
    return ((case_id * SAMPLE_MULTIPLIER) % MODULUS + 0.5) / MODULUS


def in_sample(case_id: int, share: float) -> bool:
    """Whether the case belongs to a project's evaluation sample of ``share`` (its held-out
    fraction)."""
    return evaluation_draw(case_id) < share


def draw_key(case_id: int, doubt: float) -> float:
    """The weighted-draw key (≤ 0; the larger, the earlier) of a case with ``doubt`` in [0, 1]."""
    return math.log(lottery(case_id)) / max(float(doubt), DOUBT_FLOOR)


def balanced_order(
    rows: Iterable[tuple[int, Hashable, float | None]], sample: float = 0.0
) -> list[int]:
    """The ids of ``(case id, stratum, doubt or None)`` rows in balanced order (module doc), with
    an evaluation sample of ``sample``. Case ids stand for import order."""
    return queue_order(rows, "balanced", sample)


def uncertainty_order(
    rows: Iterable[tuple[int, Hashable, float | None]], sample: float = 0.0
) -> list[int]:
    """The ids in "uncertainty" order: the most doubtful first, interleaved with the evaluation
    sample of ``sample`` (module doc); unscored cases last, oldest first."""
    return queue_order(rows, "uncertainty", sample)


def queue_order(
    rows: Iterable[tuple[int, Hashable, float | None]], order: str, sample: float = 0.0
) -> list[int]:
    """The rule ``selectors.in_queue_order`` writes in SQL, for ``order`` "balanced" or
    "uncertainty". Each scored case is in one stream: the evaluation sample (import order) or
    the rest (by the order's key, the larger first); unscored cases make their own stream, in
    import order. Per stream (per stratum in balanced order) the n-th case (from 1) gets the
    turn n / share, the sample's share being ``sample`` and the rest's 1 - ``sample``; the queue
    goes by turn, scored before unscored, ties broken by the key and then the id."""
    rows = list(rows)
    key: dict[int, float] = {}  # scored cases: the larger, the earlier
    doubt_of: dict[int, float] = {}
    streams: dict[tuple[bool, Hashable, bool], list[int]] = defaultdict(list)
    for case_id, stratum, doubt in rows:
        sampled = False
        if doubt is not None:
            doubt_of[case_id] = float(doubt)
            key[case_id] = draw_key(case_id, doubt) if order == "balanced" else float(doubt)
            sampled = in_sample(case_id, sample)
        part = stratum if order == "balanced" else None
        streams[(doubt is None, part, sampled)].append(case_id)
    turn: dict[int, float] = {}
    for (_, _, sampled), ids in streams.items():
        ids.sort(key=lambda i: (0.0, i) if sampled or i not in key else (-key[i], i))
        share = max(sample if sampled else 1.0 - sample, SHARE_FLOOR)
        turn.update((case_id, float(n + 1) / share) for n, case_id in enumerate(ids))
    draw = key if order == "balanced" else {}
    return sorted(
        (case_id for case_id, _, _ in rows),
        key=lambda i: (i not in key, turn[i], -draw.get(i, 0.0), -doubt_of.get(i, 0.0), i),
    )
