"""Issue 16, part 1: the five literature metrics against MathBridge's computation, and what
the two modes measure on real formulas.

MathBridge's evaluation script calls ``datasets.load_metric`` for bleu, sacrebleu, rouge,
wer and cer. Those metric scripts are fetched from the Hugging Face Hub at run time (HF
``evaluate`` keeps them in Hub spaces too), which this project never contacts, so each is
reproduced here by calling the library the script itself calls, the way it calls it:

* bleu: the script runs a vendored copy of TF-NMT's ``compute_bleu`` on ``pred.split()``
  (no installable package holds it). Reference here: nltk's clipped n-gram counts
  (``modified_precision``) and ``brevity_penalty``, with TF-NMT's convention for a
  prediction shorter than n (that order adds nothing to the denominator; nltk adds 1, so
  plain ``corpus_bleu`` is also printed, with its difference);
* sacrebleu: ``sacrebleu.corpus_bleu(predictions, [references])`` with its defaults;
* rouge: ``rouge_score.RougeScorer(..., use_stemmer=False)`` per pair, then the script's
  ``BootstrapAggregator`` (its ``mid`` F-measure, a bootstrap median; seeded here). Ours is
  the exact mean, so the exact mean of the same scores is the 1e-6 reference and the
  bootstrap median is shown beside it;
* wer / cer: the script's per-pair jiwer measures summed (S+D+I over S+D+H), cer with its
  transform (collapse whitespace runs, strip, characters); also rapidfuzz Levenshtein on
  the same words/characters as an implementation jiwer does not share.

Pairs: formulas read from the LaTeX corpora (``--corpus``, default ../shared/data/latex),
predictions made from them by ``bench_eval.perturb`` (copies, spelling variants, dropped
or added tokens, swaps, truncation) plus model-style spacing, double spaces, line breaks
and a few empty outputs.

    python bench/bench_metric_modes.py [--corpus DIR] [--pairs 2000] [--trials 5] [--timing-pairs 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import sys
import time
import warnings
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_eval import perturb

from formulaforge.evaluation.metrics.standard import standard_metrics
from formulaforge.formula import normalize

_MATH = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|(?<![\\$])\$([^$]+?)\$"
                   r"|\\begin\{(equation|align|gather|multline)\*?\}(.+?)\\end\{\4\*?\}", re.DOTALL)


def corpus_formulas(root: Path, limit: int = 50_000) -> list[str]:
    out: list[str] = []
    for path in sorted(root.rglob("*.tex")):
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _MATH.finditer(text):
            body = next(g for g in (m.group(1), m.group(2), m.group(3), m.group(5)) if g is not None).strip()
            if 2 <= len(body) <= 400:
                out.append(body)
        if len(out) >= limit:
            break
    return out


def styled(pred: str, rng: random.Random) -> str:
    """Spacing the way model outputs vary it."""
    r = rng.random()
    if r < 0.02:
        return ""
    if r < 0.30:
        return re.sub(r"\s*([=+<>])\s*", r" \1 ", pred)
    if r < 0.40:
        return pred.replace(" ", "  ") + " "
    if r < 0.45:
        return pred.replace("=", "\n=", 1)
    return pred


def make_pairs(formulas: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    labels = [rng.choice(formulas) for _ in range(n)]
    preds = [styled(perturb(lab, rng)[0], rng) for lab in labels]
    return preds, labels


# ---- references: MathBridge's computation through the libraries its scripts call ----

def ref_bleu_nltk(preds: list[str], refs: list[str]) -> tuple[float, float]:
    """(TF-NMT convention from nltk's counts, plain nltk corpus_bleu); both 0-1 scale."""
    from nltk.translate.bleu_score import brevity_penalty, corpus_bleu, modified_precision

    hyps = [p.split() for p in preds]
    rlists = [[r.split()] for r in refs]
    num, den = [0] * 4, [0] * 4
    for hyp, rl in zip(hyps, rlists):
        for n in range(1, 5):
            p: Fraction = modified_precision(rl, hyp, n)
            num[n - 1] += p.numerator if len(hyp) >= n else 0
            den[n - 1] += p.denominator if len(hyp) >= n else 0
    hyp_len, ref_len = sum(map(len, hyps)), sum(len(r[0]) for r in rlists)
    import math

    if min(num) == 0 or min(den) == 0:
        tfnmt = 0.0
    else:
        tfnmt = brevity_penalty(ref_len, hyp_len) * math.exp(sum(math.log(a / b) for a, b in zip(num, den)) / 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = float(corpus_bleu(rlists, hyps))
    return tfnmt, plain


def ref_sacrebleu(preds: list[str], refs: list[str]) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_bleu(preds, [refs]).score)


def ref_rouge1(preds: list[str], refs: list[str], seed: int) -> tuple[float, float]:
    """(exact mean, HF's bootstrap median 'mid') of rouge-score ROUGE-1 F."""
    import numpy as np
    from rouge_score import rouge_scorer, scoring

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=False)
    agg = scoring.BootstrapAggregator()
    scores = []
    for p, r in zip(preds, refs):
        s = scorer.score(r, p)
        agg.add_scores(s)
        scores.append(s["rouge1"].fmeasure)
    np.random.seed(seed)
    mid = agg.aggregate()["rouge1"].mid.fmeasure
    return float(np.mean(scores)), float(mid)


def ref_wer_cer(preds: list[str], refs: list[str]) -> dict[str, float]:
    import jiwer
    import jiwer.transforms as jt
    from rapidfuzz.distance import Levenshtein

    cer_transform = jt.Compose([jt.RemoveMultipleSpaces(), jt.Strip(), jt.ReduceToListOfListOfChars()])
    w_bad = w_tot = c_bad = c_tot = 0
    rw_bad = rw_tot = rc_bad = rc_tot = 0
    for p, r in zip(preds, refs):
        m = jiwer.process_words(r, p)
        w_bad += m.substitutions + m.deletions + m.insertions
        w_tot += m.substitutions + m.deletions + m.hits
        c = jiwer.process_characters(r, p, reference_transform=cer_transform, hypothesis_transform=cer_transform)
        c_bad += c.substitutions + c.deletions + c.insertions
        c_tot += c.substitutions + c.deletions + c.hits
        rw, pw = re.sub(r"\s\s+", " ", r).strip().split(" "), re.sub(r"\s\s+", " ", p).strip().split(" ")
        rw, pw = [w for w in rw if w], [w for w in pw if w]
        rw_bad += Levenshtein.distance(rw, pw)
        rw_tot += len(rw)
        rc, pc = re.sub(r"\s\s+", " ", r).strip(), re.sub(r"\s\s+", " ", p).strip()
        rc_bad += Levenshtein.distance(rc, pc)
        rc_tot += len(rc)
    return {"wer": w_bad / w_tot, "cer": c_bad / c_tot, "wer_rapidfuzz": rw_bad / rw_tot,
            "cer_rapidfuzz": rc_bad / rc_tot}


def jiwer_default_cer(preds: list[str], refs: list[str]) -> float:
    """What ``cer`` computed before issue 16: jiwer's own CER, which strips but keeps whitespace runs."""
    import jiwer

    return float(jiwer.cer(refs, preds))


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_corpus = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "latex"
    ap.add_argument("--corpus", type=Path, default=default_corpus)
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--timing-pairs", type=int, default=10_000, help="pairs for the per-mode CPU time (0: skip)")
    args = ap.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus} (give --corpus DIR with .tex files)")
    w0, c0 = time.perf_counter(), cpu()
    formulas = corpus_formulas(args.corpus)
    print(f"{len(formulas)} formulas from {args.corpus}; {args.trials} trials x {args.pairs} pairs; "
          f"load {os.getloadavg()[0]:.2f}")

    rows: dict[str, list[tuple[float, float]]] = {}

    def add(name: str, ours: float, ref: float) -> None:
        rows.setdefault(name, []).append((ours, ref))

    modes: dict[str, list[dict[str, float]]] = {"as written": [], "tokenized": [],
                                                "stored labels, as written": [], "stored labels, tokenized": []}
    for trial in range(args.trials):
        preds, refs = make_pairs(formulas, args.pairs, seed=trial)
        ours = standard_metrics(preds, refs, mode="mathbridge")
        tfnmt, plain = ref_bleu_nltk(preds, refs)
        add("BLEU (x100) vs nltk counts, TF-NMT convention", ours["bleu"], 100 * tfnmt)
        add("BLEU (x100) vs plain nltk corpus_bleu", ours["bleu"], 100 * plain)
        add("sacreBLEU vs sacrebleu.corpus_bleu", ours["sacrebleu"], ref_sacrebleu(preds, refs))
        mean, mid = ref_rouge1(preds, refs, seed=trial)
        add("ROUGE-1 vs exact mean of rouge-score", ours["rouge1"], mean)
        add("ROUGE-1 vs HF bootstrap median (mid)", ours["rouge1"], mid)
        jw = ref_wer_cer(preds, refs)
        add("WER vs per-pair jiwer sums (HF wer)", ours["wer"], jw["wer"])
        add("WER vs rapidfuzz word Levenshtein", ours["wer"], jw["wer_rapidfuzz"])
        add("CER vs per-pair jiwer sums, HF transform", ours["cer"], jw["cer"])
        add("CER vs rapidfuzz char Levenshtein", ours["cer"], jw["cer_rapidfuzz"])
        add("(before issue 16: jiwer's default CER) vs HF cer", jiwer_default_cer(preds, refs), jw["cer"])
        modes["as written"].append(ours)
        modes["tokenized"].append(standard_metrics(preds, refs))
        stored = [normalize(r) for r in refs]  # labels as stage building stores them
        modes["stored labels, as written"].append(standard_metrics(preds, stored, mode="mathbridge"))
        modes["stored labels, tokenized"].append(standard_metrics(preds, stored))

    print("\n| metric: ours (mathbridge mode) vs reference | ours (trial 0) | reference (trial 0) | max abs diff |")
    print("|---|---|---|---|")
    for name, vals in rows.items():
        diff = max(abs(a - b) for a, b in vals)
        print(f"| {name} | {vals[0][0]:.6f} | {vals[0][1]:.6f} | {diff:.2e} |")
    print("\n| pairs | mode | BLEU | sacreBLEU | ROUGE-1 | WER | CER |  (mean over trials)")
    print("|---|---|---|---|---|---|---|")
    for name, runs in modes.items():
        avg = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}
        labels, mode = name.split(", ") if ", " in name else ("perturbed formulas", name)
        print(f"| {labels} | {mode} | {avg['bleu']:.2f} | {avg['sacrebleu']:.2f} | {avg['rouge1']:.4f} | "
              f"{avg['wer']:.4f} | {avg['cer']:.4f} |")
    if args.timing_pairs:
        preds, refs = make_pairs(formulas, args.timing_pairs, seed=100)
        for mode in ("mathbridge", "tokenized"):
            t0, tc = time.perf_counter(), cpu()
            standard_metrics(preds, refs, mode=mode)
            print(f"five metrics, {mode} mode, {args.timing_pairs} pairs: {time.perf_counter() - t0:.2f} s wall, "
                  f"{cpu() - tc:.2f} s cpu")
    print(f"\n{time.perf_counter() - w0:.1f} s wall, {cpu() - c0:.1f} s cpu")


if __name__ == "__main__":
    main()
