"""Deduplication and leak-free train/valid/test assignment.

The split of a record is a pure function of its *group key* (a hash), not of its
position in a shuffled list. Two consequences that a random split does not give:

* the same input can never be in train and in test, even across separately generated
  files or different seeds (generate more data later and the union is still leak-free);
* all perturbations of one derivation (``group``) stay in one split, so a model is never
  tested on a renamed copy of a training problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from formulaforge.datasets.synthetic.records import SynthRecord

SPLITS = ("train", "valid", "test")


def dedup(records: Iterable[SynthRecord]) -> Iterator[SynthRecord]:
    """Yield each problem once (first occurrence wins); identity is :meth:`SynthRecord.dedup_key`."""
    seen: set[str] = set()
    for rec in records:
        key = hashlib.sha1(rec.dedup_key().encode("utf-8")).digest()
        if key in seen:
            continue
        seen.add(key)
        yield rec


def split_of(group: str, valid_fraction: float, test_fraction: float,
             salt: str = "formulaforge-synth") -> str:
    """Deterministic split for a group key: a uniform hash in [0, 1) against the fractions."""
    if not (0 <= valid_fraction and 0 <= test_fraction and valid_fraction + test_fraction < 1):
        raise ValueError("valid_fraction and test_fraction must be >= 0 and sum to less than 1")
    h = int.from_bytes(hashlib.sha256(f"{salt}\x1f{group}".encode()).digest()[:8], "big") / 2**64
    if h < test_fraction:
        return "test"
    if h < test_fraction + valid_fraction:
        return "valid"
    return "train"


def assign_splits(records: Iterable[SynthRecord], valid_fraction: float = 0.1,
                  test_fraction: float = 0.1) -> Iterator[SynthRecord]:
    for rec in records:
        rec.split = split_of(rec.group, valid_fraction, test_fraction)
        yield rec
