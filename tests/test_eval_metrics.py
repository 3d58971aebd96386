"""The literature's metrics against hand-computed cases, an independent BLEU, and the wrapped libraries."""

from __future__ import annotations

import math
import random
from collections import Counter

import jiwer
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from formulaforge.evaluation.metrics import mean_std, standard_metrics, summarize_runs
from formulaforge.evaluation.metrics.standard import bleu, cer, rouge1, sacrebleu_score, wer


def _textbook_corpus_bleu(preds: list[str], refs: list[str]) -> float:
    """Papineni et al. 2002, whitespace tokens, order 4, no smoothing, x100 (written independently)."""
    matches, totals = [0] * 4, [0] * 4
    hyp_len = ref_len = 0
    for p, r in zip(preds, refs):
        pt, rt = p.split(), r.split()
        hyp_len, ref_len = hyp_len + len(pt), ref_len + len(rt)
        for n in range(1, 5):
            pc = Counter(tuple(pt[i : i + n]) for i in range(len(pt) - n + 1))
            rc = Counter(tuple(rt[i : i + n]) for i in range(len(rt) - n + 1))
            matches[n - 1] += sum(min(c, rc[g]) for g, c in pc.items())
            totals[n - 1] += max(len(pt) - n + 1, 0)
    if min(matches) == 0 or min(totals) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * bp * math.exp(log_p)


def test_bleu_hand_computed() -> None:
    # p1..p4 = 4/5, 3/4, 2/3, 1/2; no brevity penalty.
    assert bleu(["a b c d e"], ["a b c d f"]) == pytest.approx(100 * (0.2**0.25), abs=1e-9)
    # Perfect n-grams, hypothesis one token short: BP = exp(1 - 5/4).
    assert bleu(["a b c d"], ["a b c d e"]) == pytest.approx(100 * math.exp(-0.25), abs=1e-9)
    # No 4-gram match and no smoothing: zero.
    assert bleu(["a b c d"], ["a b c e"]) == 0.0


def test_bleu_is_whitespace_tokenized_not_13a() -> None:
    # 13a splits "x^2+1" into several tokens; whitespace BLEU sees one token and misses it.
    pred, ref = ["x^2+1 = y z w"], ["x^2 + 1 = y z w"]
    assert bleu(pred, ref) == pytest.approx(_textbook_corpus_bleu(pred, ref), abs=1e-9)
    assert sacrebleu_score(pred, ref) != pytest.approx(bleu(pred, ref))


def test_bleu_matches_independent_implementation_on_random_corpora() -> None:
    rng = random.Random(0)
    vocab = ["x", "y", "+", "=", "\\frac", "{", "}", "^", "2", "\\alpha"]
    for _ in range(30):
        refs = [" ".join(rng.choices(vocab, k=rng.randint(4, 12))) for _ in range(5)]
        preds = [" ".join(t if rng.random() > 0.3 else rng.choice(vocab) for t in r.split()) for r in refs]
        assert bleu(preds, refs) == pytest.approx(_textbook_corpus_bleu(preds, refs), abs=1e-6)


def test_sacrebleu_is_the_library_default() -> None:
    preds, refs = ["\\frac{a}{b} + c", "x = 1"], ["\\frac{a}{b}+c", "x = 2"]
    assert sacrebleu_score(preds, refs) == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score)


def test_rouge1_drops_symbols() -> None:
    # Default tokenizer keeps [a-z0-9] runs only: {frac, a, b} vs {a, b} -> P=2/3, R=1, F=0.8.
    assert rouge1(["\\frac{a}{b}"], ["a / b"]) == pytest.approx(0.8)
    assert rouge1(["+ - ="], ["\\times"]) == 0.0  # nothing left to match
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False)
    preds, refs = ["sum of x", "y"], ["sum x i", "y z"]
    expected = sum(scorer.score(r, p)["rouge1"].fmeasure for p, r in zip(preds, refs)) / 2
    assert rouge1(preds, refs) == pytest.approx(expected)


def test_wer_cer_corpus_level() -> None:
    # 1 substitution in 3 words + 1 deletion in 2 words -> 2/5 corpus WER (not the mean 0.4167).
    assert wer(["a x c", "d"], ["a b c", "d e"]) == pytest.approx(2 / 5)
    assert cer(["abd", "de"], ["abc", "de"]) == pytest.approx(1 / 5)
    assert wer(["a x c"], ["a b c"]) == pytest.approx(jiwer.wer(["a b c"], ["a x c"]))


def test_standard_metrics_perfect_and_bad_input() -> None:
    refs = ["\\int_0^1 f ( x ) d x", "a + b = c"]
    m = standard_metrics(refs, refs)
    assert m["bleu"] == pytest.approx(100) and m["sacrebleu"] == pytest.approx(100)
    assert m["rouge1"] == pytest.approx(1) and m["wer"] == 0 and m["cer"] == 0
    with pytest.raises(ValueError, match="2 references"):
        standard_metrics(["a"], refs)
    with pytest.raises(ValueError):
        standard_metrics([], [])


def test_mean_std_over_runs() -> None:
    assert mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    assert mean_std([5.0]) == (5.0, 0.0)
    assert mean_std([1.0, float("nan"), 3.0]) == pytest.approx((2.0, math.sqrt(2)))
    summary = summarize_runs([{"bleu": 10.0, "wer": 0.5}, {"bleu": 14.0, "wer": 0.3}])
    assert summary["bleu"]["runs"] == [10.0, 14.0]
    assert summary["bleu"]["mean"] == pytest.approx(12.0)
    assert summary["wer"]["std"] == pytest.approx(math.sqrt(0.02))
