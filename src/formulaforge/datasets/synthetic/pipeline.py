"""Generate a task's records, deduplicate, split, and write them (optionally on several
processes: each shard gets its own derived seed, so the output is a pure function of
``(task, n, seed, workers)``)."""

from __future__ import annotations

import multiprocessing as mp
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from formulaforge.datasets.synthetic import TASKS, addition, calculus, derivations, roots
from formulaforge.datasets.synthetic.records import SynthRecord
from formulaforge.datasets.synthetic.splits import SPLITS, assign_splits, dedup
from formulaforge.datasets.synthetic.trees import TreeConfig
from formulaforge.utils.atomic import atomic_dir, write_json_atomic

SYNTH_KIND = "synth-dataset"  # marker kind of a `synth generate` output (utils.atomic)
from formulaforge.utils.jsonl import write_jsonl


@dataclass
class GenerationResult:
    task: str
    records: list[SynthRecord]
    stats: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def _with_tree(options: dict[str, Any], default_tree: TreeConfig) -> dict[str, Any]:
    """Route expression-tree settings (``max_ops``, ``unary_weights``...) into ``TreeConfig``,
    so ``-o max_ops=7`` works on the command line."""
    tree_keys = {f.name for f in fields(TreeConfig)}
    tree_opts = {k: v for k, v in options.items() if k in tree_keys}
    rest = {k: v for k, v in options.items() if k not in tree_keys}
    if tree_opts:
        rest["tree"] = replace(rest.get("tree", default_tree), **tree_opts)
    return rest


def _raw(task: str, n: int, seed: int, stats: Counter, options: dict[str, Any]) -> Iterator[SynthRecord]:
    rng = random.Random(seed)
    if task == "addition":
        cfg = addition.AdditionConfig(**options)
        return addition.grid(cfg) if options.get("grid_max") and n <= 0 else addition.generate(n, rng, cfg)
    if task == "roots":
        return roots.generate(n, rng, roots.RootsConfig(**options))
    if task == "derivatives":
        cfg = calculus.CalculusConfig(**_with_tree(options, calculus.CalculusConfig().tree))
        return calculus.generate_derivatives(n, rng, cfg, stats)
    if task == "integrals":
        cfg = calculus.CalculusConfig(**_with_tree(options, calculus.CalculusConfig().tree))
        return calculus.generate_integrals(n, rng, cfg, stats)
    if task == "derivations":
        dcfg = derivations.DerivationConfig(**_with_tree(options, derivations.DerivationConfig().tree))
        return derivations.generate(n, rng, dcfg, stats)
    raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")


def _shard(args: tuple[str, int, int, dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter]:
    task, n, seed, options = args
    stats: Counter = Counter()
    rows = [r.to_dict() for r in _raw(task, n, seed, stats, options)]
    return rows, stats


def generate_records(task: str, n: int, seed: int = 0, *, workers: int = 1,
                     options: dict[str, Any] | None = None,
                     progress: Callable[[int], None] | None = None) -> GenerationResult:
    """``n`` raw problems of ``task`` (before dedup).

    ``n <= 0`` with the addition option ``grid_max`` generates the full grid."""
    options = dict(options or {})
    t0 = time.perf_counter()
    if workers <= 1 or n <= 0:
        stats: Counter = Counter()
        records = []
        for rec in _raw(task, n, seed, stats, options):
            records.append(rec)
            if progress is not None:
                progress(1)
    else:
        sizes = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
        jobs = [(task, k, seed * 1000 + i + 1, options) for i, k in enumerate(sizes) if k > 0]
        # fork: the children run sympy in their main thread, so time_limit (SIGALRM) works there.
        with mp.get_context("fork").Pool(len(jobs)) as pool:
            results = pool.map(_shard, jobs)
        stats = Counter()
        records = []
        for rows, st in results:
            stats.update(st)
            records.extend(SynthRecord(**row) for row in rows)
            if progress is not None:
                progress(len(rows))
    return GenerationResult(task, records, stats, time.perf_counter() - t0)


def finalize(records: list[SynthRecord], valid_fraction: float,
             test_fraction: float) -> dict[str, list[SynthRecord]]:
    out: dict[str, list[SynthRecord]] = {s: [] for s in SPLITS}
    for rec in assign_splits(dedup(records), valid_fraction, test_fraction):
        out[rec.split].append(rec)
    return out


def write_dataset(out_dir: str | Path, result: GenerationResult, splits: dict[str, list[SynthRecord]],
                  manifest_extra: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
    """Write ``train/valid/test.jsonl`` and ``manifest.json`` into ``out_dir`` atomically.

    ``out_dir`` must be absent, empty or an earlier synthetic dataset; anything else needs ``force``.
    """
    manifest = {
        "task": result.task,
        "generated": len(result.records),
        "after_dedup": sum(len(v) for v in splits.values()),
        "splits": {k: len(v) for k, v in splits.items()},
        "rejected": {k: v for k, v in sorted(result.stats.items()) if k != "accepted"},
        "seconds": round(result.seconds, 3),
        **manifest_extra,
    }
    with atomic_dir(out_dir, SYNTH_KIND, force=force) as tmp:
        for name, recs in splits.items():
            write_jsonl(tmp / f"{name}.jsonl", (r.to_dict() for r in recs))
        write_json_atomic(tmp / "manifest.json", manifest)
    return manifest
