"""Document-level splits and named subsets, deterministic by seed.

The split of a document depends only on ``(seed, doc_id)``, never on what else is in the
corpus, so shards of a huge corpus built separately agree, and no document spans splits.
The rule, stable across processes and versions: ``u = blake2b-64("split" US seed US doc_id US)
/ 2**64`` (US = the byte 0x1f after each part), cut at the cumulative fractions (90/5/5).
Subsets (CF5K, CF50K, ...) take triplets in a seeded hash order, smallest subset first, so
they never overlap and a small corpus still fills the small subset it is most useful for.
"""

from __future__ import annotations

from dataclasses import dataclass

from formulaforge.datasets.dedup import hash64

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.9, 0.05, 0.05)
DEFAULT_SUBSETS = (("CF5K", 5000), ("CF50K", 50000))


def _u(doc_id: str, seed: int) -> float:
    return hash64("split", str(seed), doc_id) / 2**64


def split_of(doc_id: str, seed: int, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    total = sum(fractions)
    u = _u(doc_id, seed) * total
    if u < fractions[0]:
        return SPLITS[0]
    if u < fractions[0] + fractions[1]:
        return SPLITS[1]
    return SPLITS[2]


def fill_empty_splits(docs: list[tuple[str, str]], seed: int) -> dict[str, str]:
    """Small-corpus fallback: move train documents into empty validation/test splits.

    ``docs`` are ``(doc_id, split)`` of documents that have triplets. With hash thresholds a
    corpus of a dozen documents often gets no test document at all; when there are at
    least three documents, the train documents whose hash lies closest to the empty
    split's range move there (still deterministic by seed, still one split per document).
    Corpora of realistic size never trigger it, so shards keep agreeing.
    """
    if len(docs) < 3:
        return {}
    current = dict(docs)
    moves: dict[str, str] = {}
    for target in ("validation", "test"):
        if target in current.values():
            continue
        train = sorted((d for d, s in current.items() if s == "train"), key=lambda d: -_u(d, seed))
        if len(train) < 2:
            continue
        current[train[0]] = target
        moves[train[0]] = target
    return moves


def subset_rank_key(triplet_id: str, seed: int) -> int:
    return hash64("subset", str(seed), triplet_id)


@dataclass
class SubsetPlan:
    """Which hash-rank range each subset takes: subset i gets ranks [start_i, end_i)."""

    names: list[str]
    requested: list[int]
    thresholds: list[tuple[int, int]]  # (low hash inclusive, high hash exclusive) per subset
    actual: list[int]

    def subset_of(self, key: int) -> str | None:
        for name, (lo, hi) in zip(self.names, self.thresholds):
            if lo <= key < hi:
                return name
        return None


def plan_subsets(
    keys: list[int] | object, subsets: tuple[tuple[str, int], ...] = DEFAULT_SUBSETS
) -> SubsetPlan:
    """Cut the sorted hash keys into consecutive, non-overlapping subset ranges."""
    ordered = sorted(keys)  # type: ignore[call-overload]
    names, requested, thresholds, actual = [], [], [], []
    pos = 0
    n = len(ordered)
    for name, size in sorted(subsets, key=lambda s: s[1]):
        take = max(0, min(size, n - pos))
        lo = ordered[pos] if pos < n else 2**64
        hi = ordered[pos + take] if pos + take < n else 2**64
        if take == 0:
            lo = hi = 2**64
        names.append(name)
        requested.append(size)
        thresholds.append((lo, hi))
        actual.append(take)
        pos += take
    return SubsetPlan(names, requested, thresholds, actual)
