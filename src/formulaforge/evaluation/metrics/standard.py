"""BLEU, sacreBLEU, ROUGE-1, WER and CER exactly as the formula-generation literature computes them.

The MSFT paper (Table 1) follows MathBridge's evaluation; to keep our numbers comparable
we compute each metric with the library researchers use, with these settings:

* ``bleu``: corpus BLEU over *whitespace* tokens, max n-gram order 4, no smoothing, with
  the brevity penalty; reported x100 as in the MSFT table. Computed with sacrebleu's
  ``tokenize='none'`` (split on whitespace only) and ``smooth_method='none'``.
* ``sacrebleu``: sacrebleu's corpus BLEU with its defaults (13a tokenizer, exp smoothing).
* ``rouge1``: rouge-score's ROUGE-1 F-measure, default tokenizer, no stemmer, averaged
  over pairs. Caveat for formulas: that tokenizer lower-cases and keeps only ``[a-z0-9]``
  runs, so every symbol (``\\``, ``{``, ``^``, ``+``, ``=``) is dropped and
  ``\\frac{a}{b}`` scores like ``frac a b``. Use the formula-aware metrics for structure.
* ``wer`` / ``cer``: jiwer, corpus level (total edits / total reference words or chars).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jiwer
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

_PLAIN_BLEU = BLEU(tokenize="none", smooth_method="none", max_ngram_order=4)
_SACREBLEU = BLEU()
_ROUGE = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False)


def _check(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError("no predictions to score")


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU x100 over whitespace tokens, order 4, no smoothing."""
    _check(predictions, references)
    return float(_PLAIN_BLEU.corpus_score(list(predictions), [list(references)]).score)


def sacrebleu_score(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus BLEU (0-100) with its default 13a tokenizer and exp smoothing."""
    _check(predictions, references)
    return float(_SACREBLEU.corpus_score(list(predictions), [list(references)]).score)


def rouge1(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-1 F-measure (0-1); see the module docstring for what the tokenizer drops."""
    _check(predictions, references)
    scores = [_ROUGE.score(ref, pred)["rouge1"].fmeasure for pred, ref in zip(predictions, references)]
    return float(sum(scores) / len(scores))


def wer(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus word error rate (jiwer)."""
    _check(predictions, references)
    return float(jiwer.wer(list(references), list(predictions)))


def cer(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus character error rate (jiwer)."""
    _check(predictions, references)
    return float(jiwer.cer(list(references), list(predictions)))


STANDARD_METRICS: dict[str, Callable[[Sequence[str], Sequence[str]], float]] = {
    "bleu": bleu,
    "sacrebleu": sacrebleu_score,
    "rouge1": rouge1,
    "wer": wer,
    "cer": cer,
}
"""Name -> metric, in the MSFT paper's column order. Higher is better except wer/cer."""

LOWER_IS_BETTER = frozenset({"wer", "cer"})


def standard_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """All five literature metrics for one run."""
    return {name: fn(predictions, references) for name, fn in STANDARD_METRICS.items()}
