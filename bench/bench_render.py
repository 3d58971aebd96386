"""Render metric (CDM-style, issue 16): coverage of real references per corpus and pairs/s, per engine.

For each corpus under the shared LaTeX folder, a fixed-seed sample of its display formulas
(the references a ContextFormulas dataset is built from, extracted as bench_formula.py
does) is rendered by each engine: mathtext (pure Python, always) and TeX (when ``latex`` is
installed). Reported: rendered / sample, and for TeX how many rendered without any TeX
error in the log (the rest are pages TeX drew after recovering from an error, e.g. an
unknown package's diagram syntax).

Throughput: pairs made from the same samples (the reference itself, one token dropped, two
adjacent tokens swapped) scored by ``render_metrics`` from cold caches; wall time and CPU
time (this process plus TeX child processes: the machine is shared, so wall time includes
waiting for a core).

    nice -n 5 python bench/bench_render.py [LATEX_DIR] [--sample 300] [--corpus ra ...]
        [--engines mathtext tex] [--pairs 300]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from pathlib import Path

from bench_formula import extract
from shared_data import shared_latex_or_exit

from formulaforge.evaluation.metrics.render import render_metrics, tex_available
from formulaforge.evaluation.metrics.rendering import mathtext as mathtext_engine
from formulaforge.evaluation.metrics.rendering import tex as tex_engine
from formulaforge.formula import normalize_tokens
from formulaforge.formula.tokenize import join_tokens


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def clear_caches() -> None:
    mathtext_engine.mathtext_symbols.cache_clear()
    tex_engine._CACHE.clear()


def coverage(engine: str, formulas: list[str]) -> tuple[int, int]:
    """(rendered, rendered without a TeX error) for ``formulas``."""
    if engine == "tex":
        out = tex_engine.tex_render_many(formulas)
        return sum(s is not None for s, _ in out), sum(s is not None and not err for s, err in out)
    rendered = sum(mathtext_engine.mathtext_symbols(f) is not None for f in formulas)
    return rendered, rendered


def perturbed_pairs(references: list[str], n: int, rng: random.Random) -> tuple[list[str], list[str]]:
    preds, refs = [], []
    for ref in rng.sample(references, min(n, len(references))):
        tokens = normalize_tokens(ref)
        kind = rng.randrange(3)
        if kind == 1 and len(tokens) > 1:
            del tokens[rng.randrange(len(tokens))]
        elif kind == 2 and len(tokens) > 1:
            i = rng.randrange(len(tokens) - 1)
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        preds.append(join_tokens(tokens) if kind else ref)
        refs.append(ref)
    return preds, refs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("latex_dir", nargs="?", type=Path)
    ap.add_argument("--sample", type=int, default=300, help="references per corpus (0: all)")
    ap.add_argument("--corpus", nargs="*", help="corpus folder names (default: all)")
    ap.add_argument("--engines", nargs="*", default=["mathtext", "tex"])
    ap.add_argument("--pairs", type=int, default=300, help="pairs timed per engine")
    args = ap.parse_args()
    root = args.latex_dir or shared_latex_or_exit(skip=True)
    engines = [e for e in args.engines if e != "tex" or tex_available()]
    if "tex" in args.engines and "tex" not in engines:
        print("tex engine skipped: no latex on PATH")
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} cores")
    rng = random.Random(0)
    pool: list[str] = []
    names = args.corpus or sorted(p.name for p in root.iterdir() if p.is_dir())
    print(f"{'corpus':16} {'refs':>6} {'sample':>6} " + " ".join(f"{e + ' rendered':>22}" for e in engines))
    for name in names:
        formulas = extract(root / name)
        random.Random(0).shuffle(formulas)
        sample = formulas[: args.sample] if args.sample else formulas
        pool += sample[:100]
        cells = []
        for engine in engines:
            clear_caches()
            w0, c0 = time.perf_counter(), cpu_seconds()
            rendered, clean = coverage(engine, sample)
            wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
            extra = f" ({clean} clean)" if engine == "tex" else ""
            cells.append(f"{rendered}/{len(sample)} = {100 * rendered / len(sample):.1f} %{extra} [{cpu:.1f} cpu-s]")
            del wall
        print(f"{name:16} {len(formulas):>6} {len(sample):>6} " + "  ".join(cells), flush=True)
    preds, refs = perturbed_pairs(pool, args.pairs, rng)
    for engine in engines if preds else []:
        clear_caches()
        w0, c0 = time.perf_counter(), cpu_seconds()
        out = render_metrics(preds, refs, engine)
        wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
        print(f"{engine}: {len(preds)} pairs from cold caches in {wall:.1f} s wall, {cpu:.1f} s cpu = "
              f"{len(preds) / wall:.1f} pairs/s wall, {len(preds) / cpu:.1f} pairs per cpu-s; "
              + ", ".join(f"{k}={v:.3f}" for k, v in out.items()))


if __name__ == "__main__":
    sys.exit(main())
