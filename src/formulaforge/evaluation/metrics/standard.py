"""BLEU, sacreBLEU, ROUGE-1, WER and CER: the literature's five metrics, in two modes.

Which strings the five formulas see is the *mode* (``standard_metrics(..., mode=...)``):

* ``tokenized`` (default): both sides go through :func:`formulaforge.formula.normalize`
  (the normalization stage labels already had; applying it again is a no-op) and then
  :func:`formulaforge.formula.tokenize`; the tokens joined by single spaces are what the
  metrics score. Labels are stored normalized, i.e. without spaces (``E=mc^2``), so on
  the strings as written whitespace BLEU sees a median of two "words" per formula and one
  changed character costs every n-gram: BLEU 0, WER 1. On tokens a one-token change in a
  20-token formula costs a few BLEU points.
* ``mathbridge``: the strings as written, computed the way MathBridge's evaluation script
  (``datasets.load_metric``: bleu, sacrebleu, rouge, wer, cer) does, so numbers compare
  with the literature (the MSFT paper follows MathBridge). ``bench/bench_metric_modes.py``
  checks the agreement; docs/benchmarks.md, "Issue 16", has the table.

The metrics themselves, with the library that computes each:

* ``bleu``: corpus BLEU over whitespace tokens (``str.split``), max n-gram order 4, no
  smoothing, with the brevity penalty; x100 as in the MSFT table. HF's ``bleu`` (TF-NMT's
  ``compute_bleu`` on ``pred.split()``) returns the same value on a 0-1 scale. Computed with
  sacrebleu's ``tokenize='none'`` and ``smooth_method='none'``.
* ``sacrebleu``: sacrebleu's corpus BLEU with its defaults (13a tokenizer, exp smoothing),
  which is what HF's ``sacrebleu`` calls.
* ``rouge1``: rouge-score's ROUGE-1 F-measure, default tokenizer, no stemmer, the exact
  mean over pairs. HF's ``rouge`` reports the median of a bootstrap resampling of that
  mean (``BootstrapAggregator``, unseeded), which differs from the mean by sampling noise.
  Caveat for formulas: the tokenizer lower-cases and keeps only ``[a-z0-9]`` runs, so every
  symbol is dropped and ``\\frac{a}{b}`` scores like ``frac a b``.
* ``wer``: jiwer, corpus level (total word edits / total reference words), words split on
  spaces after collapsing runs of whitespace, as HF's ``wer``.
* ``cer``: jiwer, corpus level, after HF's ``cer`` transform: runs of two or more
  whitespace characters become one space, ends stripped, then characters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import jiwer
import jiwer.transforms as jt
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

from formulaforge.formula import normalize, tokenize

MODES = ("tokenized", "mathbridge")
DEFAULT_MODE = "tokenized"

_PLAIN_BLEU = BLEU(tokenize="none", smooth_method="none", max_ngram_order=4)
_SACREBLEU = BLEU()
_ROUGE = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False)
_HF_CER_TRANSFORM = jt.Compose([jt.RemoveMultipleSpaces(), jt.Strip(), jt.ReduceToListOfListOfChars()])
"""HF ``cer``'s transform: whitespace runs collapsed, ends stripped (jiwer's own CER only strips)."""


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
    """Corpus character error rate (jiwer) after HF ``cer``'s whitespace collapsing."""
    _check(predictions, references)
    return float(jiwer.cer(list(references), list(predictions), reference_transform=_HF_CER_TRANSFORM,
                           hypothesis_transform=_HF_CER_TRANSFORM))


STANDARD_METRICS: dict[str, Callable[[Sequence[str], Sequence[str]], float]] = {
    "bleu": bleu,
    "sacrebleu": sacrebleu_score,
    "rouge1": rouge1,
    "wer": wer,
    "cer": cer,
}
"""Name -> metric, in the MSFT paper's column order. Higher is better except wer/cer."""

LOWER_IS_BETTER = frozenset({"wer", "cer"})


@lru_cache(maxsize=200_000)
def token_text(latex: str) -> str:
    """What ``tokenized`` mode scores: the normalized formula's tokens, one space apart."""
    return " ".join(tokenize(normalize(latex)))


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown metric mode {mode!r} (choose {' or '.join(MODES)})")
    return mode


def standard_metrics(predictions: Sequence[str], references: Sequence[str],
                     mode: str = DEFAULT_MODE) -> dict[str, float]:
    """All five literature metrics for one run, on the strings ``mode`` says."""
    check_mode(mode)
    if mode == "tokenized":
        predictions = [token_text(p) for p in predictions]
        references = [token_text(r) for r in references]
    return {name: fn(predictions, references) for name, fn in STANDARD_METRICS.items()}


class StandardScorer:
    """The five metrics in one mode, as a runner scorer (a picklable callable).

    ``reads_raw``: in ``mathbridge`` mode the runner hands over the strings as written,
    without its whitespace canonicalization, because that is what the literature scores.
    """

    def __init__(self, mode: str = DEFAULT_MODE) -> None:
        self.mode = check_mode(mode)
        self.reads_raw = mode == "mathbridge"

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
        return standard_metrics(predictions, references, self.mode)
