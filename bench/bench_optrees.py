"""Benchmark: Funcimg-OTS sample generation throughput and the paper-scale time estimate.

A *sample* is one skeleton + one constant vector + its 3x64x64 function image + its
formula string (the skeleton's string with C_i placeholders, computed once per skeleton
and cached). Measured in one run, side by side:

* samples/s of our pipeline (batched over the 50 constant vectors of a skeleton, float32,
  cached formula strings), in one process and with ``--workers`` processes writing real
  shards through ``generate``;
* baselines: one constant vector per evaluation call (no batching), float64 evaluation,
  and a sympy formula string built per sample (no cache);
* skeletons/s of the skeleton phase (sampling + numeric checks + sympy simplify + dedup key),
  which dominates the paper-scale cost;
* the estimate for the paper's 11,028 skeletons x 50 = 551,400 pairs.

Usage (numbers go to docs/benchmarks.md):

    PYTHONPATH=src nice -n 10 python bench/bench_optrees.py --workers 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from formulaforge.datasets.optrees.dataset import GenerateConfig, generate, skeleton_candidates  # noqa: E402
from formulaforge.datasets.optrees.images import GridSpec, function_images  # noqa: E402
from formulaforge.datasets.optrees.ots import decode  # noqa: E402
from formulaforge.datasets.optrees.sampling import SkeletonSampler  # noqa: E402
from formulaforge.datasets.optrees.symbolic import formula_with_values  # noqa: E402
from formulaforge.utils.jsonl import write_jsonl  # noqa: E402

PAPER_SKELETONS, PAPER_K = 11_028, 50


def skeleton_phase(n_chunks: int, workers: int, cfg: GenerateConfig) -> tuple[list[dict], float, int]:
    t0 = time.perf_counter()
    if workers == 1:
        chunks = [skeleton_candidates(i, cfg) for i in range(n_chunks)]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            chunks = list(pool.map(skeleton_candidates, range(n_chunks), [cfg] * n_chunks))
    dt = time.perf_counter() - t0
    rows = [r for c in chunks for r in c]
    return rows, dt, n_chunks * cfg.chunk_size


def in_memory_samples(skeletons: list[dict], k: int, grid: GridSpec, *, per_sample_eval: bool = False,
                      per_sample_formula: bool = False) -> float:
    sampler = SkeletonSampler()
    n = 0
    t0 = time.perf_counter()
    for sk in skeletons:
        tree = decode(sk["ots"])
        rng = np.random.default_rng(sk["skeleton_id"])
        if per_sample_eval:
            consts = sampler.sample_constants(tree, k, rng)
            images = [function_images(tree, consts[j:j + 1], grid).images for j in range(k)]
        else:
            consts, batch = sampler.sample_constant_sets(tree, k, rng, grid, rounds=20) or (None, None)
            if consts is None:
                continue
            images = batch.images
        for j in range(k):
            formula = formula_with_values(tree, consts[j]) if per_sample_formula else sk["formula"]
            row = {"ots": sk["ots"], "constants": consts[j].tolist(), "formula": formula}
            del row
        n += k
        del images
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=16, help="skeleton-phase work units (32 candidates each)")
    ap.add_argument("--k", type=int, default=PAPER_K)
    ap.add_argument("--sample-skeletons", type=int, default=200, help="skeletons for the sample-phase runs")
    args = ap.parse_args()
    cfg = GenerateConfig(n_skeletons=1, constants_per_skeleton=args.k)
    grid32, grid64 = GridSpec(), GridSpec(dtype="float64")
    results: dict[str, object] = {"workers": args.workers, "k": args.k}

    rows, dt1, cand1 = skeleton_phase(max(2, args.chunks // 4), 1, cfg)
    results["skeleton_phase_1proc"] = {"candidates": cand1, "accepted": len(rows), "s": round(dt1, 2),
                                       "accepted_per_s": round(len(rows) / dt1, 2)}
    rows_w, dtw, candw = skeleton_phase(args.chunks, args.workers, cfg)
    results[f"skeleton_phase_{args.workers}proc"] = {"candidates": candw, "accepted": len(rows_w), "s": round(dtw, 2),
                                                      "accepted_per_s": round(len(rows_w) / dtw, 2)}
    keys = {r["key"] for r in rows_w}
    results["duplicate_share_in_bench"] = round(1 - len(keys) / max(len(rows_w), 1), 4)

    pool = {r["key"]: r for r in rows + rows_w}
    skeletons = [{"skeleton_id": i, **r} for i, r in enumerate(pool.values())]
    while len(skeletons) < args.sample_skeletons:  # reuse skeletons if the phase-1 run was small
        skeletons += [{**s, "skeleton_id": len(skeletons) + j} for j, s in enumerate(skeletons)]
    skeletons = skeletons[: args.sample_skeletons]
    few = skeletons[: max(10, args.sample_skeletons // 10)]

    ours = in_memory_samples(skeletons, args.k, grid32)
    results["samples_per_s_1proc_ours"] = round(ours, 1)
    b_loop = in_memory_samples(few, args.k, grid32, per_sample_eval=True)
    b_f64 = in_memory_samples(few, args.k, grid64)
    b_sym = in_memory_samples(few[:4], args.k, grid32, per_sample_formula=True)
    results["baselines_samples_per_s_1proc"] = {"one_constant_vector_per_call": round(b_loop, 1),
                                                "float64_evaluation": round(b_f64, 1),
                                                "sympy_string_per_sample": round(b_sym, 1)}
    results["ratios_ours_over_baseline"] = {"vs_per_call": round(ours / b_loop, 2), "vs_float64": round(ours / b_f64, 2),
                                            "vs_uncached_sympy": round(ours / b_sym, 2)}

    tmp = Path(tempfile.mkdtemp(prefix="bench_optrees_"))
    try:
        out = tmp / "ds"
        out.mkdir()
        write_jsonl(out / "skeletons.jsonl", skeletons)
        gcfg = GenerateConfig(n_skeletons=len(skeletons), constants_per_skeleton=args.k, shard_size=25)
        t0 = time.perf_counter()
        manifest = generate(gcfg, out, workers=args.workers)
        dt = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (out / "shards").iterdir())
        results[f"samples_per_s_{args.workers}proc_written_shards"] = round(manifest["n_samples"] / dt, 1)
        results["bytes_per_sample_on_disk"] = round(size / manifest["n_samples"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    skel_rate = len(rows_w) * (1 - results["duplicate_share_in_bench"]) / dtw  # type: ignore[operator]
    sample_rate = results[f"samples_per_s_{args.workers}proc_written_shards"]
    est = PAPER_SKELETONS / skel_rate + PAPER_SKELETONS * PAPER_K / sample_rate  # type: ignore[operator]
    results["paper_scale_estimate"] = {
        "skeletons": PAPER_SKELETONS, "pairs": PAPER_SKELETONS * PAPER_K, "workers": args.workers,
        "skeleton_phase_min": round(PAPER_SKELETONS / skel_rate / 60, 1),
        "sample_phase_min": round(PAPER_SKELETONS * PAPER_K / sample_rate / 60, 1),  # type: ignore[operator]
        "total_min": round(est / 60, 1),
        "disk_gb_float16": round(PAPER_SKELETONS * PAPER_K * results["bytes_per_sample_on_disk"] / 1e9, 1),  # type: ignore[operator]
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
