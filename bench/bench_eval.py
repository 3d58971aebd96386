"""Evaluation speed: every metric on 10,000 pairs, and batched vs one-by-one generation.

Part A (target: all standard + formula-aware metrics on 10,000 prediction/label pairs in
< 10 s on 2 cores). Labels are real formulas from a triplet file written by
``formulaforge data build`` (``triplets.jsonl``); predictions are realistic model errors
made from them with a fixed seed: exact copies, spelling variants that normalize away
(``\\dfrac`` / ``\\frac``, ``x^2`` / ``x^{2}``, ``\\le`` / ``\\leq``, ``\\left(``), one
token dropped, one token added, operands swapped around ``+``/``=``, truncation. Each
metric is timed on its own (wall and CPU time: the machine is shared, so wall time
includes waiting for a core; CPU time includes the pool's worker processes). The render
metric is reported separately, per formula, on a sample.

Part B (target: >= 3x tokens/s): ``generate_batched`` on the packaged SmolLM2-135M,
greedy, the same prompts at batch 8 and at batch 1, ratio printed side by side.

    nice -n 10 python bench/bench_eval.py --triplets /tmp/x/triplets.jsonl [--pairs 10000]
        [--workers 2] [--render-sample 200] [--gen-prompts 16 --gen-tokens 32] [--skip-gen]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from formulaforge.evaluation.metrics.formula_aware import plain_sym_metrics
from formulaforge.formula import tokenize

SPELLING = [
    ("\\frac", "\\dfrac"), ("\\leq", "\\le"), ("\\geq", "\\ge"), ("\\le ", "\\leq "),
    ("\\to", "\\rightarrow"), ("\\neq", "\\ne"), ("^2", "^{2}"), ("_0", "_{0}"),
]

ATOM = re.compile(r"^(?:[A-Za-z0-9]+|\\[A-Za-z]+)$")  # an operand that can move: x, 12, \alpha


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (pool workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def token_spans(label: str) -> list[tuple[int, int]]:
    """(start, end) of each token of ``label`` in the string itself (tokens not found are skipped)."""
    spans, pos = [], 0
    for tok in tokenize(label):
        start = label.find(tok, pos)
        if start < 0:
            continue
        spans.append((start, start + len(tok)))
        pos = start + len(tok)
    return spans


def perturb(label: str, rng: random.Random) -> tuple[str, str]:
    """A plausible prediction for ``label`` and the kind of error made.

    Edits are made on the label's own text (its spacing kept), as a model's output
    would differ from it, so whitespace-token BLEU/WER see only the edit.
    """
    r = rng.random()
    spans = token_spans(label)
    if r < 0.30 or len(spans) < 3:
        return label, "copy"
    if r < 0.50:
        options = [(a, b) for a, b in SPELLING if a in label]
        if options:
            a, b = rng.choice(options)
            return label.replace(a, b, 1), "spelling"
        return label, "copy"
    if r < 0.65:
        a, b = spans[rng.randrange(len(spans))]
        return label[:a] + label[b:], "drop"
    if r < 0.75:
        a = rng.choice([sp[0] for sp in spans] + [len(label)])
        return label[:a] + rng.choice(["x", "1", "+", "2", "\\,", "^{2}", "n"]) + label[a:], "add"
    if r < 0.90:
        toks = [label[a:b] for a, b in spans]
        ops = [i for i, t in enumerate(toks) if t in {"+", "=", "\\cdot", "\\times"} and 0 < i < len(toks) - 1
               and ATOM.match(toks[i - 1]) and ATOM.match(toks[i + 1])]
        if ops:
            i = rng.choice(ops)
            (a0, a1), (b0, b1) = spans[i - 1], spans[i + 1]
            return label[:a0] + label[b0:b1] + label[a1:b0] + label[a0:a1] + label[b1:], "swap"
    return label[: spans[max(1, len(spans) * 3 // 4) - 1][1]], "truncate"


def make_pairs(triplets: Path, n: int, seed: int = 0, pred_seed: int | None = None) -> tuple[list[str], list[str], dict[str, int]]:
    formulas: list[str] = []
    with open(triplets, encoding="utf-8") as fh:
        for line in fh:
            f = json.loads(line)["formula"]
            if f.strip():
                formulas.append(f)
    rng = random.Random(seed)
    rng.shuffle(formulas)
    labels = [formulas[i % len(formulas)] for i in range(n)]
    if pred_seed is not None:
        rng = random.Random(pred_seed)
    preds, kinds = [], {}
    for label in labels:
        p, kind = perturb(label, rng)
        preds.append(p)
        kinds[kind] = kinds.get(kind, 0) + 1
    return preds, labels, kinds


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    w0, c0 = time.perf_counter(), cpu_seconds()
    out = fn()
    wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
    print(f"     ... {wall:.2f} s wall, {cpu:.2f} s cpu", flush=True)
    return out, wall, cpu


def bench_metrics(args: argparse.Namespace) -> None:
    from formulaforge.evaluation.metrics import formula_aware
    from formulaforge.evaluation.metrics.standard import STANDARD_METRICS
    from formulaforge.evaluation.runner import canonical_whitespace

    preds, labels, kinds = make_pairs(Path(args.triplets), args.pairs)
    preds = [canonical_whitespace(p) for p in preds]
    labels = [canonical_whitespace(r) for r in labels]
    print(f"== A. metrics on {len(preds)} pairs ({len(set(labels))} distinct labels from {args.triplets})")
    print("   prediction kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    import latex2sympy2_extended  # noqa: F401
    import sympy  # noqa: F401 - import cost is not a metric's cost

    rows: list[tuple[str, float, float, str]] = []
    for name, fn in STANDARD_METRICS.items():
        value, wall, cpu = timed(lambda fn=fn: fn(preds, labels))
        rows.append((name, wall, cpu, f"{value:.4f}"))
    formula_aware.clear_caches()
    value, wall, cpu = timed(lambda: formula_aware.formula_metrics(preds, labels, workers=args.workers))
    rows.append((f"formula_aware (workers={args.workers})", wall, cpu,
                 ", ".join(f"{k}={v:.4f}" for k, v in value.items())))
    formula_aware.clear_caches()
    serial, swall, scpu = timed(lambda: formula_aware.formula_metrics(preds, labels, workers=1))
    rows.append(("formula_aware (workers=1)", swall, scpu, _vs(serial, value)))
    preds2 = [canonical_whitespace(p) for p in make_pairs(Path(args.triplets), args.pairs, pred_seed=1)[0]]
    second, w2, c2 = timed(lambda: formula_aware.formula_metrics(preds2, labels, workers=1))
    rows.append(("formula_aware, run 2 (workers=1, warm)", w2, c2,
                 "new predictions, same labels: " + ", ".join(f"{k}={v:.4f}" for k, v in second.items())))
    if args.plain_baseline:
        formula_aware.clear_caches()
        base, bwall, bcpu = timed(lambda: plain_sym_metrics(preds, labels))
        rows.append(("sym part, plain loop (baseline)", bwall, bcpu, _vs(base, value)))
    print(f"   {'metric':38s} {'wall s':>8s} {'cpu s':>8s}  value")
    for name, wall, cpu, shown in rows:
        print(f"   {name:38s} {wall:8.2f} {cpu:8.2f}  {shown}")
    counted = [r for r in rows if not r[0].startswith(("formula_aware (workers=1)", "formula_aware, run 2", "sym part"))]
    total_wall, total_cpu = sum(r[1] for r in counted), sum(r[2] for r in counted)
    if args.plain_baseline:
        print(f"   speed-up of formula_aware over the plain loop: {bwall / wall:.1f}x wall, {bcpu / cpu:.1f}x cpu "
              f"(workers=1: {bwall / swall:.1f}x wall, {bcpu / scpu:.1f}x cpu)")
    print(f"   {'TOTAL (standard + formula-aware)':38s} {total_wall:8.2f} {total_cpu:8.2f}  "
          f"target < 10 s wall: {'PASS' if total_wall < 10 else 'FAIL'}")
    print(f"   load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.render_sample:
        bench_render(preds, labels, args.render_sample)


def _vs(other: dict[str, float], value: dict[str, float]) -> str:
    same = all((other[k] == value[k]) or (other[k] != other[k] and value[k] != value[k]) for k in other)
    return "same values as above" if same else "DIFFERENT: " + ", ".join(f"{k}={v:.4f}" for k, v in other.items())


def bench_breakdown(args: argparse.Namespace) -> None:
    """Where formula_metrics' sympy time goes, serial, cold caches, step by step (CPU seconds)."""
    from formulaforge.evaluation.metrics import formula_aware as fa
    from formulaforge.evaluation.runner import canonical_whitespace
    from formulaforge.formula.to_sympy import sympy_ready

    preds, labels, _ = make_pairs(Path(args.triplets), args.pairs)
    preds = [canonical_whitespace(p) for p in preds]
    labels = [canonical_whitespace(r) for r in labels]
    import latex2sympy2_extended  # noqa: F401
    import sympy  # noqa: F401

    fa.clear_caches()
    t = time.process_time()
    tokens = [(fa.normalized_tokens(p), fa.normalized_tokens(r)) for p, r in zip(preds, labels)]
    t_tok = time.process_time() - t
    todo = list(dict.fromkeys((p, r) for (p, r), (tp, tr) in zip(zip(preds, labels), tokens) if p.strip() and tp != tr))
    t = time.process_time()
    ready = [sympy_ready(r) for _, r in todo]
    lex_ok = sum(fa.lexes(r) for r in ready if r is not None)
    t_lex = time.process_time() - t
    t = time.process_time()
    may = [(fa.may_convert_text(p), fa.may_convert_text(r)) for p, r in todo]
    t_pre = time.process_time() - t
    ref_ok = sum(r for _, r in may)
    t_ref = t_pred = t_eq = 0.0
    n_ref = n_pred = n_eq = slow = 0
    for (p, r), (p_ok, r_ok) in zip(todo, may):  # the order pair_equivalence uses (cold: prediction first)
        if not (p_ok and r_ok):
            continue
        t = time.process_time()
        ps = fa.converted(p)
        t_pred, n_pred = t_pred + time.process_time() - t, n_pred + 1
        if ps is None:
            continue
        t = time.process_time()
        rs = fa.converted(r)
        t_ref, n_ref = t_ref + time.process_time() - t, n_ref + 1
        if rs is None:
            continue
        t = time.process_time()
        fa.symbolically_equal(ps, rs)
        d = time.process_time() - t
        t_eq, n_eq, slow = t_eq + d, n_eq + 1, slow + (d > 1.0)
    print(f"== A'. formula_aware split (serial, cold, CPU s) on {len(preds)} pairs")
    print(f"   normalize+tokenize all {2 * len(preds)} formulas: {t_tok:.2f}")
    print(f"   {len(todo)} distinct pairs not equal after normalization; {sum(r is not None for r in ready)} references "
          f"sympy-ready, {lex_ok} pass latex2sympy's lexer (sympy_ready + lexer: {t_lex:.2f})")
    print(f"   parser-free check of both sides (sympy_ready + lexer + token pairs): {t_pre:.2f}; {ref_ok} references "
          f"and {sum(a and b for a, b in may)} pairs (both sides) pass")
    print(f"   convert {n_pred} predictions of those pairs (latex2sympy): {t_pred:.2f}")
    print(f"   convert {n_ref} references whose prediction converted: {t_ref:.2f}")
    print(f"   symbolic equivalence ({n_eq} pairs, {slow} over 1 s): {t_eq:.2f}")


def bench_cold(args: argparse.Namespace) -> None:
    from formulaforge.evaluation.metrics import formula_aware as fa
    from formulaforge.evaluation.runner import canonical_whitespace

    preds, labels, _ = make_pairs(Path(args.triplets), args.pairs)
    preds = [canonical_whitespace(p) for p in preds]
    labels = [canonical_whitespace(r) for r in labels]
    import latex2sympy2_extended  # noqa: F401
    import sympy  # noqa: F401

    if args.cold_compare == "plain":
        value, wall, cpu = timed(lambda: plain_sym_metrics(preds, labels))
    else:
        workers = args.workers if args.cold_compare == "pooled" else 1
        value, wall, cpu = timed(lambda: fa.formula_metrics(preds, labels, workers=workers))
    print(f"== cold {args.cold_compare}: {wall:.2f} s wall, {cpu:.2f} s cpu; "
          + ", ".join(f"{k}={v:.4f}" for k, v in value.items() if k.startswith("sym")))


def bench_render(preds: list[str], labels: list[str], n: int) -> None:
    from formulaforge.evaluation.metrics.render import render_metrics

    rng = random.Random(1)
    idx = rng.sample(range(len(preds)), min(n, len(preds)))
    p, r = [preds[i] for i in idx], [labels[i] for i in idx]
    value, wall, cpu = timed(lambda: render_metrics(p, r))
    print(f"   render metric (separately): {len(idx)} pairs in {wall:.2f} s wall / {cpu:.2f} s cpu = "
          f"{1000 * wall / (2 * len(idx)):.1f} ms wall per formula; " + ", ".join(f"{k}={v:.4f}" for k, v in value.items()))


def bench_generation(args: argparse.Namespace) -> None:
    import torch

    from formulaforge.datasets.prompts import render_prompt
    from formulaforge.models.generation import SamplingConfig, generate_batched
    from formulaforge.models.loading import load_model_and_tokenizer

    torch.set_num_threads(args.threads)
    model, tokenizer = load_model_and_tokenizer("smollm2-135m")
    model.eval()
    topics = ["the area of a circle", "Euler's identity", "the quadratic formula", "Bayes' rule",
              "the binomial theorem", "Stirling's approximation", "the Cauchy-Schwarz inequality",
              "the geometric series", "Pythagoras' theorem", "the Gaussian integral", "Fermat's little theorem",
              "the derivative of x^n", "the law of cosines", "Taylor's theorem", "the harmonic series",
              "the Fourier transform"]
    prompts = [render_prompt(f"Write the LaTeX formula for {topics[i % len(topics)]}.", tokenizer)
               for i in range(args.gen_prompts)]
    # min_new_tokens: every prompt produces exactly gen_tokens tokens, so both runs do the same work.
    sampling = SamplingConfig(greedy=True, max_new_tokens=args.gen_tokens)
    extra = {"min_new_tokens": args.gen_tokens}
    generate_batched(model, tokenizer, prompts[:2], SamplingConfig(greedy=True, max_new_tokens=4), batch_size=2)
    print(f"== B. generation: SmolLM2-135M (fp32, CPU, {args.threads} threads), {len(prompts)} prompts, "
          f"{args.gen_tokens} new tokens each, greedy")
    results = {}
    for bs in (1, args.gen_batch):
        gens, wall, cpu = timed(lambda bs=bs: generate_batched(model, tokenizer, prompts, sampling, batch_size=bs,
                                                               generate_kwargs=extra))
        tokens = sum(g.new_tokens for g in gens)
        results[bs] = (tokens / wall, tokens / cpu, [g.text for g in gens])
        print(f"   batch {bs:2d}: {tokens} tokens in {wall:.1f} s wall / {cpu:.1f} s cpu = "
              f"{tokens / wall:.1f} tok/s wall, {tokens / cpu:.1f} tok/s per cpu-second")
    one, many = results[1], results[args.gen_batch]
    same = sum(a == b for a, b in zip(one[2], many[2]))
    print(f"   ratio batch {args.gen_batch} / batch 1: {many[0] / one[0]:.2f}x wall tokens/s, "
          f"{many[1] / one[1]:.2f}x per cpu-second (target >= 3x); identical outputs {same}/{len(prompts)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--triplets", required=True, help="triplets.jsonl from `formulaforge data build`")
    ap.add_argument("--pairs", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--plain-baseline", action="store_true",
                    help="also time the sympy part the plain way (no cache, no pool; minutes)")
    ap.add_argument("--render-sample", type=int, default=200)
    ap.add_argument("--skip-gen", action="store_true")
    ap.add_argument("--cold-compare", choices=["plain", "serial", "pooled"],
                    help="time only this sympy path in this (fresh) process: ANTLR's DFA cache warms up within a "
                         "process, so paths timed one after another in one process are not comparable")
    ap.add_argument("--breakdown", action="store_true", help="first, the step-by-step split of formula_aware's time")
    ap.add_argument("--skip-metrics", action="store_true")
    ap.add_argument("--gen-prompts", type=int, default=16)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--gen-batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.breakdown:
        bench_breakdown(args)
    if args.cold_compare:
        bench_cold(args)
    if not args.skip_metrics:
        bench_metrics(args)
    if not args.skip_gen:
        bench_generation(args)


if __name__ == "__main__":
    main()
