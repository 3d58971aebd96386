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
from formulaforge.evaluation.metrics.standard import (
    StandardScorer,
    bleu,
    cer,
    rouge1,
    sacrebleu_score,
    token_text,
    wer,
)
from formulaforge.formula import tokenize


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


def _random_corpus(rng: random.Random) -> tuple[list[str], list[str]]:
    """Predictions that substitute, drop and insert tokens, so their lengths differ from the
    references' in both directions (the brevity penalty is exercised, and swapping the two
    arguments changes the value)."""
    vocab = ["x", "y", "+", "=", "\\frac", "{", "}", "^", "2", "\\alpha"]
    refs = [" ".join(rng.choices(vocab, k=rng.randint(4, 14))) for _ in range(5)]
    preds = []
    for r in refs:
        toks = [t if rng.random() > 0.2 else rng.choice(vocab) for t in r.split()]
        cut = rng.randint(-3, 3)
        toks = toks[:cut] if cut < 0 else toks + rng.choices(vocab, k=cut)
        preds.append(" ".join(toks))
    return preds, refs


def test_bleu_matches_independent_implementation_on_random_corpora() -> None:
    rng = random.Random(0)
    swapped_differs = 0
    for _ in range(40):
        preds, refs = _random_corpus(rng)
        ours = bleu(preds, refs)
        assert ours == pytest.approx(_textbook_corpus_bleu(preds, refs), abs=1e-6)
        swapped = _textbook_corpus_bleu(refs, preds)
        swapped_differs += abs(swapped - ours) > 1e-3
    assert swapped_differs >= 20  # lengths vary: swapping predictions and references is caught


def test_bleu_matches_nltk_corpus_bleu() -> None:
    """nltk's corpus_bleu (an installed implementation we did not write), one reference, no smoothing.

    nltk counts a denominator of 1 for an n-gram order longer than a prediction (TF-NMT, which
    HF's bleu runs, and sacrebleu count 0), so predictions here have at least 4 tokens."""
    import warnings

    from nltk.translate.bleu_score import corpus_bleu

    rng = random.Random(1)
    for _ in range(20):
        preds, refs = _random_corpus(rng)
        preds = [p if len(p.split()) >= 4 else p + " x y z w" for p in preds]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nltk warns when an n-gram order has no match
            expected = 100 * corpus_bleu([[r.split()] for r in refs], [p.split() for p in preds])
        assert bleu(preds, refs) == pytest.approx(expected, abs=1e-6)


def test_tokenized_bleu_moves_a_little_for_one_changed_token() -> None:
    from formulaforge.formula import normalize

    ref = r"\frac{a+b}{c}=\sum_{i=1}^{n}x_i^2+\alpha\beta-\gamma"
    pred = ref.replace(r"\beta", r"\delta")  # one token of 20+
    n = len(tokenize(normalize(ref)))
    assert n >= 20
    tok = standard_metrics([pred], [ref])
    raw = standard_metrics([pred], [ref], mode="mathbridge")
    assert 50 < tok["bleu"] < 100  # a little lower, not 0
    assert raw["bleu"] == 0.0  # the strings as written: one "word", changed
    assert tok["wer"] == pytest.approx(1 / n)  # one substituted token
    assert raw["wer"] == 1.0
    assert tok["bleu"] == pytest.approx(_textbook_corpus_bleu([token_text(pred)], [token_text(ref)]), abs=1e-9)


def test_tokenized_mode_normalizes_both_sides() -> None:
    assert token_text(r"E = m c^{2}") == "E = m c ^ 2" == token_text("E=mc^2")
    m = standard_metrics([r"\dfrac{a}{b} \le c"], [r"\frac{a}{b}\leq c"])
    assert m["bleu"] == pytest.approx(100) and m["wer"] == 0 and m["cer"] == 0
    assert StandardScorer("tokenized")([r"\dfrac{a}{b}"], [r"\frac{a}{b}"])["bleu"] == pytest.approx(100)
    assert StandardScorer("mathbridge").reads_raw and not StandardScorer().reads_raw
    with pytest.raises(ValueError, match="unknown metric mode"):
        StandardScorer("words")


def test_cer_collapses_whitespace_like_hf() -> None:
    # HF's cer: runs of whitespace become one space, ends stripped; a single space still counts.
    assert cer(["a  b "], ["a b"]) == 0.0
    assert cer(["ab"], ["a b"]) == pytest.approx(1 / 3)
    assert jiwer.cer(["a b"], ["a  b "]) > 0  # jiwer's default CER only strips the ends


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


@pytest.mark.parametrize("mode", ["tokenized", "mathbridge"])
def test_standard_metrics_perfect_and_bad_input(mode: str) -> None:
    refs = ["\\int_0^1 f ( x ) d x", "a + b = c"]
    m = standard_metrics(refs, refs, mode=mode)
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


def test_tokenized_bleu_is_norm_bleu() -> None:
    """docs/evaluation.md says so; the report's two tables must not disagree."""
    from formulaforge.evaluation.metrics.formula_aware import formula_metrics

    preds = [r"\dfrac{a}{b}+c = d", r"x^{2} + y", r"\alpha\beta\gamma", ""]
    refs = [r"\frac{a}{b}+c=d", r"x^2+z", r"\alpha \beta \delta", r"E=mc^2"]
    assert standard_metrics(preds, refs)["bleu"] == pytest.approx(formula_metrics(preds, refs)["norm_bleu"])
