"""Split assignment is a stable, process-independent function of the document (or group) key.

Planted bug this file must catch (issue 22): ``datasets/splits.py`` using Python's salted
``hash()`` instead of the stable hash. Every other test passes with that bug, because
within one process ``hash()`` is deterministic; only a second process (another
``PYTHONHASHSEED``) or an independent computation of the documented rule shows it. The
same holds for the synthetic-data splits (``datasets/synthetic/splits.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formulaforge.datasets import splits as cf_splits
from formulaforge.datasets.synthetic import splits as synth_splits

SRC = Path(__file__).resolve().parents[1] / "src"
IDS = [f"paper-{i}/main.tex" for i in range(300)] + ["2401.00001", "math/0501001", "ünïcode/ø.tex"]


def _documented_cf_split(doc_id: str, seed: int, fractions=(0.9, 0.05, 0.05)) -> str:
    """The rule as the splits module docstring states it, computed with hashlib alone (not the project's code):
    u = blake2b-64("split" US seed US doc_id US) / 2^64, cut at the cumulative fractions."""
    h = hashlib.blake2b(digest_size=8)
    for part in ("split", str(seed), doc_id):
        h.update(part.encode("utf-8") + b"\x1f")
    u = int.from_bytes(h.digest(), "big") / 2**64 * sum(fractions)
    if u < fractions[0]:
        return "train"
    return "validation" if u < fractions[0] + fractions[1] else "test"


def _documented_synth_split(group: str, valid: float, test: float) -> str:
    u = int.from_bytes(hashlib.sha256(f"formulaforge-synth\x1f{group}".encode()).digest()[:8], "big") / 2**64
    if u < test:
        return "test"
    return "valid" if u < test + valid else "train"


def test_contextformulas_split_follows_the_documented_rule() -> None:
    for seed in (0, 7):
        assert [cf_splits.split_of(d, seed) for d in IDS] == [_documented_cf_split(d, seed) for d in IDS]


def test_synthetic_split_follows_the_documented_rule() -> None:
    assert [synth_splits.split_of(g, 0.1, 0.2) for g in IDS] == [_documented_synth_split(g, 0.1, 0.2) for g in IDS]


_CHILD = """
import json, sys
from formulaforge.datasets.splits import split_of
from formulaforge.datasets.synthetic.splits import split_of as synth_split_of
ids = json.loads(sys.stdin.read())
print(json.dumps([[split_of(d, 3) for d in ids], [synth_split_of(d, 0.1, 0.1) for d in ids]]))
"""


def _splits_in_a_fresh_process(hash_seed: str) -> list:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(SRC))
    out = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(IDS), capture_output=True,
                         text=True, env=env, check=True, timeout=120)
    return json.loads(out.stdout)


def test_two_processes_with_different_hash_seeds_agree() -> None:
    """A rebuild (a new process) must put every document in the same split."""
    assert _splits_in_a_fresh_process("1") == _splits_in_a_fresh_process("2")


def test_split_shares_match_the_fractions() -> None:
    n = 20_000
    got = [cf_splits.split_of(f"doc{i}", 0) for i in range(n)]
    for name, frac in zip(cf_splits.SPLITS, cf_splits.DEFAULT_FRACTIONS):
        share = got.count(name) / n
        sd = (frac * (1 - frac) / n) ** 0.5
        assert abs(share - frac) < 5 * sd, (name, share)
    synth = [synth_splits.split_of(f"g{i}", 0.1, 0.2) for i in range(n)]
    for name, frac in (("train", 0.7), ("valid", 0.1), ("test", 0.2)):
        assert abs(synth.count(name) / n - frac) < 5 * (frac * (1 - frac) / n) ** 0.5, name


@settings(max_examples=200, deadline=None)
@given(doc=st.text(min_size=1, max_size=40), seed=st.integers(0, 10_000))
def test_split_is_a_pure_function_of_seed_and_id(doc: str, seed: int) -> None:
    first = cf_splits.split_of(doc, seed)
    assert first in cf_splits.SPLITS and first == cf_splits.split_of(doc, seed)
    # widening the train fraction can only move a document *into* train, never out of it
    if first == "train":
        assert cf_splits.split_of(doc, seed, (0.95, 0.025, 0.025)) == "train"


# ------------------------------------------------------------------ found by `make mutation` (bench/mutation.py)
@pytest.mark.parametrize("fractions", [(0.9, 0.05, 0.05), (2.0, 1.0, 1.0), (0.5, 0.3, 0.2)])
def test_any_fractions_follow_the_documented_rule(fractions: tuple[float, float, float]) -> None:
    assert [cf_splits.split_of(d, 1, fractions) for d in IDS] == [_documented_cf_split(d, 1, fractions) for d in IDS]


def test_split_ranges_are_half_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """[0, 0.5) is train, [0.5, 0.75) validation, [0.75, 1) test: a boundary belongs to the next split."""
    for u, want in ((0.0, "train"), (0.5, "validation"), (0.75, "test")):
        monkeypatch.setattr(cf_splits, "_u", lambda doc_id, seed, u=u: u)
        assert cf_splits.split_of("d", 0, (0.5, 0.25, 0.25)) == want


def test_subset_rank_key_follows_the_documented_rule() -> None:
    def documented(tid: str, seed: int) -> int:
        h = hashlib.blake2b(digest_size=8)
        for part in ("subset", str(seed), tid):
            h.update(part.encode("utf-8") + b"\x1f")
        return int.from_bytes(h.digest(), "big")

    assert [cf_splits.subset_rank_key(t, 5) for t in IDS[:50]] == [documented(t, 5) for t in IDS[:50]]


def test_small_corpus_fallback_moves_the_highest_hashed_train_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    u = {"a": 0.1, "b": 0.5, "c": 0.3, "d": 0.2}
    monkeypatch.setattr(cf_splits, "_u", lambda doc_id, seed: u[doc_id])
    # three documents, all train: validation takes the highest hash, test the next
    assert cf_splits.fill_empty_splits([("a", "train"), ("b", "train"), ("c", "train")], 0) == {
        "b": "validation", "c": "test"}
    # validation already present: test is still filled (the loop goes on past a full split)
    assert cf_splits.fill_empty_splits([("a", "train"), ("b", "validation"), ("c", "train"), ("d", "train")], 0) == {
        "c": "test"}
    # one train document left is never moved: a corpus keeps at least one training document
    assert cf_splits.fill_empty_splits([("a", "train"), ("b", "validation"), ("c", "validation")], 0) == {}


def test_plan_subsets_ranges_are_consecutive_disjoint_and_cover_what_they_take() -> None:
    keys = sorted(cf_splits.subset_rank_key(f"t{i}", 0) for i in range(20))
    # given largest-first, the smallest subset still takes the lowest ranks
    plan = cf_splits.plan_subsets(keys, (("big", 10), ("one", 1), ("mid", 3)))
    assert plan.names == ["one", "mid", "big"] and plan.actual == [1, 3, 10]
    got = [plan.subset_of(k) for k in keys]
    assert got == ["one"] + ["mid"] * 3 + ["big"] * 10 + [None] * 6
    # a corpus smaller than the subsets: the last subset takes the rest, up to the largest key
    plan = cf_splits.plan_subsets(keys, (("a", 5), ("b", 100), ("c", 7)))
    assert plan.actual == [5, 7, 8] and [plan.subset_of(k) for k in keys] == ["a"] * 5 + ["c"] * 7 + ["b"] * 8
    # a subset that gets nothing matches no key; the last one filled reaches the top of the hash range
    plan = cf_splits.plan_subsets(keys[:3], (("a", 3), ("b", 5)))
    assert plan.actual == [3, 0] and {plan.subset_of(k) for k in keys} == {"a"}
    assert plan.subset_of(keys[0] - 1) is None and plan.subset_of(2**64 - 1) == "a"


# ------------------------------------------------------------------ dedup keys (mutation survivors)
from formulaforge.datasets.dedup import Deduplicator, canonical_formula_key, hash64


def test_hash64_is_blake2b_of_separated_parts() -> None:
    def documented(*parts: str) -> int:
        data = b"".join(p.encode("utf-8", "surrogatepass") + b"\x1f" for p in parts)
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")

    for parts in (("a",), ("a", "b"), ("ab",), ("", ""), ("x\ud800y",), ("ä", "∑")):
        assert hash64(*parts) == documented(*parts)
    assert hash64("a", "b") != hash64("ab") and hash64("x\ud800y") != hash64("x?y")


def test_canonical_key_is_the_normalized_formula_without_whitespace() -> None:
    assert canonical_formula_key(r"\dfrac{a}{b}\,.") == canonical_formula_key(r"\frac{a} {b}")
    key = canonical_formula_key("a + b = c")
    assert key == "a+b=c"


def test_deduplicator_counts_and_keys() -> None:
    with pytest.raises(ValueError, match="'formula' or 'triplet', not 'x'"):
        Deduplicator("x")
    d = Deduplicator("formula")
    assert not d.seen("a+b", "before", "after")
    assert d.seen(r"a + b", "other", "context") and d.seen("a+b", "third", "one")  # same formula, new contexts
    assert d.dropped_normalised == 2 and d.dropped_exact == 0
    assert d.seen("a + b", "other", "context") and d.dropped_exact == 1  # the very same triplet again
    t = Deduplicator("triplet")
    assert not t.seen("x", "b", "a")
    assert not t.seen("x", "b", "other after") and not t.seen("x", "other before", "a")  # context matters
    assert not t.seen("x", "a", "b")  # before and after are not interchangeable
    assert t.seen("x", " b\n", "a  ") and t.dropped_normalised == 1  # whitespace in contexts does not
    assert t.seen("x", "b", "a") and t.dropped_exact == 1
