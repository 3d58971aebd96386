"""Evaluation speed: every metric on 10,000 pairs, and batched vs one-by-one generation.

Part A (target: all standard + formula-aware metrics on 10,000 prediction/label pairs in
< 10 s on 2 cores). The headline is ``evaluation.runner.score`` with 2 workers, exactly as
``formulaforge eval`` computes a run's metrics; each metric is also timed alone. Labels are real formulas from a triplet file written by
``formulaforge data build`` (``triplets.jsonl``); predictions are realistic model errors
made from them with a fixed seed: exact copies, spelling variants that normalize away
(``\\dfrac`` / ``\\frac``, ``x^2`` / ``x^{2}``, ``\\le`` / ``\\leq``, ``\\left(``), one
token dropped, one token added, operands swapped around ``+``/``=``, truncation. Each
metric is timed on its own (wall and CPU time: the machine is shared, so wall time
includes waiting for a core; CPU time includes the pool's worker processes). The render
metric is reported separately, per formula, on a sample.

Part A' (``--latex2sympy``, the named baseline of the sympy reader): our reader vs
latex2sympy (the converter used before) on the same distinct texts of the pairs that are
not equal after normalization, each under the same 2 CPU-second limit: CPU time, how
many each reads, how many both read.

Part B (target: >= 3x tokens/s): ``generate_batched`` on the packaged SmolLM2-135M,
greedy, the same prompts at batch 8 and at batch 1, ratio printed side by side.

    python bench/bench_eval.py --triplets /tmp/x/triplets.jsonl [--pairs 10000] [--workers 2]
        [--render-sample 200] [--latex2sympy] [--gen-prompts 16 --gen-tokens 32] [--skip-gen]
"""

from __future__ import annotations

import argparse
import functools
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


def _pairs(args: argparse.Namespace) -> tuple[list[str], list[str], dict[str, int]]:
    from formulaforge.evaluation.runner import canonical_whitespace

    preds, labels, kinds = make_pairs(Path(args.triplets), args.pairs)
    return [canonical_whitespace(p) for p in preds], [canonical_whitespace(r) for r in labels], kinds


def bench_metrics(args: argparse.Namespace) -> None:
    from formulaforge.evaluation.metrics import formula_aware
    from formulaforge.evaluation.metrics.standard import STANDARD_METRICS, standard_metrics
    from formulaforge.evaluation.runner import canonical_whitespace, score

    preds, labels, kinds = _pairs(args)
    print(f"== A. metrics on {len(preds)} pairs ({len(set(labels))} distinct labels from {args.triplets})")
    print("   prediction kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    import sympy  # noqa: F401 - import cost is not a metric's cost

    rows: list[tuple[str, float, float, str]] = []
    for name, fn in STANDARD_METRICS.items():
        value, wall, cpu = timed(lambda fn=fn: fn(preds, labels))
        rows.append((name, wall, cpu, f"{value:.4f}"))
    formula_aware.clear_caches()
    serial, swall, scpu = timed(lambda: formula_aware.formula_metrics(preds, labels, workers=1))
    rows.append(("formula_aware (workers=1)", swall, scpu, ", ".join(f"{k}={v:.4f}" for k, v in serial.items())))
    preds2 = [canonical_whitespace(p) for p in make_pairs(Path(args.triplets), args.pairs, pred_seed=1)[0]]
    second, w2, c2 = timed(lambda: formula_aware.formula_metrics(preds2, labels, workers=1))
    rows.append(("formula_aware, run 2 (workers=1, warm)", w2, c2,
                 "new predictions, same labels: " + ", ".join(f"{k}={v:.4f}" for k, v in second.items())))
    formula_aware.clear_caches()
    # The rows above score the strings as written: compare with the same mode.
    as_written = functools.partial(standard_metrics, mode="mathbridge")
    together, twall, tcpu = timed(lambda: score(preds, labels, [as_written, formula_aware.formula_metrics],
                                                workers=args.workers))
    expected = {name: shown for name, _, _, shown in rows[:5]}
    same = all(f"{together[k]:.4f}" == expected[k] for k in STANDARD_METRICS) and all(
        together[k] == serial[k] or (together[k] != together[k] and serial[k] != serial[k]) for k in serial)
    rows.append((f"ALL: score(..., workers={args.workers})", twall, tcpu,
                 "same values as the rows above" if same else "DIFFERENT VALUES"))
    if args.plain_baseline:
        formula_aware.clear_caches()
        base, bwall, bcpu = timed(lambda: plain_sym_metrics(preds, labels))
        rows.append(("sym part, plain loop (baseline)", bwall, bcpu, _vs(base, serial)))
    print(f"   {'metric':38s} {'wall s':>8s} {'cpu s':>8s}  value")
    for name, wall, cpu, shown in rows:
        print(f"   {name:38s} {wall:8.2f} {cpu:8.2f}  {shown}")
    serial_wall = sum(r[1] for r in rows[:6])
    print(f"   one after another (standard five + formula_aware serial): {serial_wall:.2f} s wall; "
          f"side by side: {twall:.2f} s wall = {serial_wall / twall:.2f}x")
    print(f"   {'TOTAL, all metrics (score, workers=' + str(args.workers) + ')':38s} {twall:8.2f} {tcpu:8.2f}  "
          f"target < 10 s wall: {'PASS' if twall < 10 else 'FAIL'}")
    print(f"   load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.render_sample:
        bench_render(preds, labels, args.render_sample)


def _vs(other: dict[str, float], value: dict[str, float]) -> str:
    same = all((other[k] == value[k]) or (other[k] != other[k] and value[k] != value[k]) for k in other)
    return "same values as above" if same else "DIFFERENT: " + ", ".join(f"{k}={v:.4f}" for k, v in other.items())


def bench_latex2sympy(args: argparse.Namespace) -> None:
    """Our reader vs latex2sympy on the distinct texts of the pairs not equal after normalization."""
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig

    from formulaforge.evaluation.metrics.formula_aware import SYMPY_TIMEOUT, normalized_tokens
    from formulaforge.formula.to_sympy import sympy_tokens, tokens_to_sympy
    from formulaforge.utils.timeout import time_limit

    preds, labels, _ = _pairs(args)
    texts = sorted({t for p, r in zip(preds, labels) if p.strip() and normalized_tokens(p) != normalized_tokens(r)
                    for t in (p, r)})
    config = ConversionConfig(lowercase_symbols=False, interpret_contains_as_eq=False)
    import sympy

    def theirs(text: str) -> object:
        try:
            with time_limit(10 * SYMPY_TIMEOUT), time_limit(SYMPY_TIMEOUT, cpu=True):
                out = latex2sympy(text, conversion_config=config)
        except BaseException:  # noqa: BLE001 - any failure (timeouts included) is "not read"
            return None
        return out if isinstance(out, sympy.Basic) else None

    print(f"== A'. sympy readers on the {len(texts)} distinct texts of pairs not equal after normalization "
          f"(limit {SYMPY_TIMEOUT:g} CPU-s each)")
    ours, _, ocpu = timed(lambda: [tokens_to_sympy(sympy_tokens(t), SYMPY_TIMEOUT, cpu=True) for t in texts])
    base, _, bcpu = timed(lambda: [theirs(t) for t in texts])
    n_ours, n_base = sum(o is not None for o in ours), sum(b is not None for b in base)
    both = sum(o is not None and b is not None for o, b in zip(ours, base))
    print(f"   latex2sympy (baseline): reads {n_base}, {bcpu:.2f} CPU-s ({1000 * bcpu / len(texts):.2f} ms/text)")
    print(f"   formulaforge reader:    reads {n_ours}, {ocpu:.2f} CPU-s ({1000 * ocpu / len(texts):.2f} ms/text)")
    print(f"   ratio latex2sympy / ours: {bcpu / ocpu:.1f}x CPU; read by both: {both}; only by latex2sympy: "
          f"{n_base - both}; only by ours: {n_ours - both}")
    shown = 0
    for text, o, b in zip(texts, ours, base):
        if b is not None and o is None and shown < args.show_refusals:
            print(f"   refused by ours, read by latex2sympy as {str(b)[:50]!r}: {text[:90]!r}")
            shown += 1


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
    ap.add_argument("--latex2sympy", action="store_true",
                    help="also compare our sympy reader with latex2sympy on the same texts (minutes)")
    ap.add_argument("--show-refusals", type=int, default=15)
    ap.add_argument("--skip-metrics", action="store_true")
    ap.add_argument("--gen-prompts", type=int, default=16)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--gen-batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not args.skip_metrics:
        bench_metrics(args)
    if args.latex2sympy:
        bench_latex2sympy(args)
    if not args.skip_gen:
        bench_generation(args)


if __name__ == "__main__":
    main()
