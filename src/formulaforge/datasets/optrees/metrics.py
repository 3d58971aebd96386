"""The Botfip-LLM OTS metrics (paper eqs. 10-12), as plain functions.

* ``Acc_r`` (eq. 10): share of predicted OTS that rebuild into an operation tree. Every
  tree that rebuilds also evaluates (the numeric semantics are total: undefined points
  are NaN, never errors), so "rebuilds" and "rebuilds into a tree that evaluates" coincide.
* ``S_RL`` (eq. 11): mean of ``(l(t) - D(p, t)) / l(t)`` with ``D`` the Levenshtein
  distance between the predicted and target token lists and ``l(t)`` the target length.
  As in the paper it is not clipped: a prediction much longer than its target can score
  below 0. ``norm="max"`` divides by the longer of the two lengths instead (the earlier
  Botfip code's variant, always in [0, 1]); results differ by that choice, so reports name it.
* ``S~_RL`` (eq. 12): the same on the formula strings of the rebuilt trees, times the
  indicator that the prediction rebuilds (0 otherwise).

Levenshtein distances come from rapidfuzz (which accepts token lists as well as strings).
Formula strings are the simplified sympy strings with C_i placeholders of
:func:`formula_strings`, computed once per distinct sequence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from formulaforge.datasets.optrees.ots import OTSDecodeError, decode
from formulaforge.datasets.optrees.symbolic import formula_strings
from formulaforge.datasets.optrees.vocab import DEFAULT_VOCAB, Vocabulary

NORMS = ("target", "max")


def relative_similarity(pred: Sequence, target: Sequence, norm: str = "target") -> float:
    """``(l - D(p, t)) / l`` for token lists or strings; ``l = l(t)`` (eq. 11) or ``max(l(p), l(t))`` (``max``)."""
    if len(target) == 0:
        raise ValueError("target sequence is empty")
    if norm not in NORMS:
        raise ValueError(f"S_RL norm must be target or max, got {norm!r}")
    length = len(target) if norm == "target" else max(len(target), len(pred))
    return (length - Levenshtein.distance(list(pred) if not isinstance(pred, str) else pred,
                                          list(target) if not isinstance(target, str) else target)) / length


@lru_cache(maxsize=65536)
def _formula_of(ots: tuple[int, ...], vocab: Vocabulary, timeout: float) -> str | None:
    try:
        tree = decode(ots, vocab)
    except OTSDecodeError:
        return None
    return formula_strings(tree, timeout=timeout).sympy


@dataclass(frozen=True)
class SampleScore:
    valid: bool
    s_rl: float
    s_rl_formula: float


def score(pred: Sequence[int], target: Sequence[int], *, vocab: Vocabulary = DEFAULT_VOCAB,
          formula: Callable[[tuple[int, ...]], str | None] | None = None, timeout: float = 2.0,
          norm: str = "target") -> SampleScore:
    """All three per-sample terms for one (prediction, target) pair."""
    get = formula or (lambda o: _formula_of(o, vocab, timeout))
    p, t = tuple(int(x) for x in pred), tuple(int(x) for x in target)
    p_formula = get(p)
    valid = p_formula is not None
    s_formula = 0.0
    if valid:
        t_formula = get(t)
        if t_formula is None:
            raise ValueError(f"target OTS {list(t)} is not a valid OTS")
        s_formula = relative_similarity(p_formula, t_formula, norm)
    return SampleScore(valid, relative_similarity(p, t, norm), s_formula)


def acc_r(preds: Sequence[Sequence[int]], vocab: Vocabulary = DEFAULT_VOCAB) -> float:
    """Eq. 10."""
    if not preds:
        raise ValueError("no predictions")
    ok = 0
    for p in preds:
        try:
            decode(p, vocab)
            ok += 1
        except OTSDecodeError:
            pass
    return ok / len(preds)


def s_rl(preds: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], norm: str = "target") -> float:
    """Eq. 11."""
    _check(preds, targets)
    return sum(relative_similarity(p, t, norm) for p, t in zip(preds, targets, strict=True)) / len(targets)


def s_rl_formula(preds: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], **kwargs: object) -> float:
    """Eq. 12."""
    _check(preds, targets)
    return sum(score(p, t, **kwargs).s_rl_formula for p, t in zip(preds, targets, strict=True)) / len(targets)  # type: ignore[arg-type]


def ots_metrics(preds: Sequence[Sequence[int]], targets: Sequence[Sequence[int]],
                node_counts: Sequence[int] | None = None, **kwargs: object) -> dict[str, object]:
    """``acc_r``, ``s_rl``, ``s_rl_formula`` overall and (with ``node_counts``) per node count."""
    _check(preds, targets)
    scores = [score(p, t, **kwargs) for p, t in zip(preds, targets, strict=True)]  # type: ignore[arg-type]

    def agg(items: list[SampleScore]) -> dict[str, float]:
        n = len(items)
        return {"n": n, "acc_r": sum(s.valid for s in items) / n, "s_rl": sum(s.s_rl for s in items) / n,
                "s_rl_formula": sum(s.s_rl_formula for s in items) / n}

    out: dict[str, object] = dict(agg(scores))
    if node_counts is not None:
        groups: dict[int, list[SampleScore]] = defaultdict(list)
        for nc, s in zip(node_counts, scores, strict=True):
            groups[int(nc)].append(s)
        out["by_node_count"] = {str(k): agg(v) for k, v in sorted(groups.items())}
    return out


def _check(preds: Sequence, targets: Sequence) -> None:
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} targets")
    if not targets:
        raise ValueError("no targets")
