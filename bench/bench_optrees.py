"""Benchmark: Funcimg-OTS sample generation throughput and the paper-scale time estimate.

A *sample* is one skeleton + one constant vector + its 3x64x64 function image + its
formula string (the skeleton's string with C_i placeholders, computed once per skeleton
and cached). Measured in one run, side by side:

* samples/s of our pipeline (batched over the K constant vectors of a skeleton, float32
  evaluation, cached formula strings): in one process, and with ``--workers`` processes
  writing real shards through ``generate`` (float16 safetensors + JSONL);
* baselines in the same run: one constant vector per evaluation call (no batching),
  float64 evaluation, and a sympy formula string built per sample (no cache);
* accepted skeletons/s of the skeleton phase (sampling, numeric checks, sympy
  simplification, dedup key) for ``--simplify full`` and ``light``;
* the estimate for the paper's 11,028 skeletons x 50 = 551,400 pairs.

Both wall time and CPU time are reported: the development machine is shared, so wall
time understates what W dedicated cores do; the estimate is given both ways.

    PYTHONPATH=src nice -n 10 python bench/bench_optrees.py --workers 2
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from formulaforge.datasets.optrees.dataset import (  # noqa: E402
    GenerateConfig, generate, skeleton_candidates, write_shard,
)
from formulaforge.datasets.optrees.images import GridSpec, function_images  # noqa: E402
from formulaforge.datasets.optrees.ots import decode  # noqa: E402
from formulaforge.datasets.optrees.sampling import SkeletonSampler  # noqa: E402
from formulaforge.datasets.optrees.symbolic import formula_with_values  # noqa: E402
from formulaforge.utils.jsonl import write_jsonl  # noqa: E402

PAPER_SKELETONS, PAPER_K = 11_028, 50


def cpu_now() -> float:
    """CPU seconds of this process plus its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Clock:
    def __enter__(self) -> "Clock":
        self.w0, self.c0 = time.perf_counter(), cpu_now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.w0, cpu_now() - self.c0


def skeleton_phase(n_chunks: int, workers: int, cfg: GenerateConfig) -> tuple[list[dict], Clock]:
    with Clock() as clock:
        if workers == 1:
            chunks = [skeleton_candidates(i, cfg) for i in range(n_chunks)]
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                chunks = list(pool.map(skeleton_candidates, range(n_chunks), [cfg] * n_chunks))
    return [r for c in chunks for r in c], clock


def in_memory_samples(skeletons: list[dict], k: int, grid: GridSpec, *, per_sample_eval: bool = False,
                      per_sample_formula: bool = False) -> dict[str, float]:
    sampler = SkeletonSampler()
    n = 0
    with Clock() as clock:
        for sk in skeletons:
            tree = decode(sk["ots"])
            rng = np.random.default_rng(sk["skeleton_id"])
            if per_sample_eval:
                consts = sampler.sample_constants(tree, k, rng)
                images = [function_images(tree, consts[j:j + 1], grid).images for j in range(k)]
            else:
                got = sampler.sample_constant_sets(tree, k, rng, grid, rounds=20)
                if got is None:
                    continue
                consts, images = got[0], got[1].images
            rows = [{"ots": sk["ots"], "constants": consts[j].tolist(),
                     "formula": formula_with_values(tree, consts[j]) if per_sample_formula else sk["formula"]}
                    for j in range(k)]
            n += len(rows)
            del images
    return {"samples_per_s_wall": round(n / clock.wall, 1), "samples_per_cpu_s": round(n / clock.cpu, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=12, help="skeleton-phase work units (32 candidates each)")
    ap.add_argument("--k", type=int, default=PAPER_K)
    ap.add_argument("--sample-skeletons", type=int, default=300, help="skeletons for the sample-phase runs")
    args = ap.parse_args()
    w = args.workers
    cfg = GenerateConfig(n_skeletons=1, constants_per_skeleton=args.k)
    res: dict[str, object] = {"workers": w, "k": args.k}

    phase1: dict[str, dict] = {}
    pool: dict[str, dict] = {}
    for mode in ("full", "light"):
        rows, clock = skeleton_phase(args.chunks, w, replace(cfg, simplify=mode))
        unique = {r["key"] for r in rows}
        phase1[mode] = {"candidates": args.chunks * cfg.chunk_size, "accepted": len(rows), "distinct": len(unique),
                        "unsimplified": sum(not r["simplified"] for r in rows),
                        "wall_s": round(clock.wall, 2), "cpu_s": round(clock.cpu, 2),
                        "distinct_per_s_wall": round(len(unique) / clock.wall, 2),
                        "distinct_per_cpu_s": round(len(unique) / clock.cpu, 2)}
        if mode == "full":
            pool = {r["key"]: r for r in rows}
    res["skeleton_phase"] = phase1

    skeletons = [{"skeleton_id": i, **r} for i, r in enumerate(pool.values())]
    while len(skeletons) < args.sample_skeletons:  # reuse skeletons when phase 1 was small
        skeletons += [{**s, "skeleton_id": len(skeletons) + j} for j, s in enumerate(skeletons)]
    skeletons = skeletons[: args.sample_skeletons]
    few = skeletons[: max(10, len(skeletons) // 10)]

    ours = in_memory_samples(skeletons, args.k, GridSpec())
    base = {"one_constant_vector_per_call": in_memory_samples(few, args.k, GridSpec(), per_sample_eval=True),
            "float64_evaluation": in_memory_samples(few, args.k, GridSpec(dtype="float64")),
            "sympy_string_per_sample": in_memory_samples(few[:4], args.k, GridSpec(), per_sample_formula=True)}
    res["sample_phase_1proc"] = {"ours": ours, **base}
    res["ratios_ours_over_baseline_cpu"] = {k: round(ours["samples_per_cpu_s"] / v["samples_per_cpu_s"], 2)
                                            for k, v in base.items()}

    tmp = Path(tempfile.mkdtemp(prefix="bench_optrees_"))
    try:
        # steady state of one worker: constants + images + float16 safetensors + JSONL, no process start-up
        one = GenerateConfig(n_skeletons=len(skeletons), constants_per_skeleton=args.k, shard_size=25)
        (tmp / "one" / "shards").mkdir(parents=True)
        with Clock() as clock:
            n = sum(write_shard(i, skeletons[i * 25:(i + 1) * 25], one, str(tmp / "one"))["n_samples"]
                    for i in range(-(-len(skeletons) // 25)))
        res["written_shards_1proc_in_process"] = {"samples": n, "samples_per_s_wall": round(n / clock.wall, 1),
                                                  "samples_per_cpu_s": round(n / clock.cpu, 1)}
        out = tmp / "ds"
        out.mkdir()
        write_jsonl(out / "skeletons.jsonl", skeletons)
        gcfg = GenerateConfig(n_skeletons=len(skeletons), constants_per_skeleton=args.k, shard_size=25)
        with Clock() as clock:
            manifest = generate(gcfg, out, workers=w)
        n = manifest["n_samples"]
        size = sum(p.stat().st_size for p in (out / "shards").iterdir())
        res[f"written_shards_{w}proc"] = {"samples": n, "wall_s": round(clock.wall, 2), "cpu_s": round(clock.cpu, 2),
                                          "samples_per_s_wall": round(n / clock.wall, 1),
                                          "samples_per_cpu_s": round(n / clock.cpu, 1),
                                          "bytes_per_sample": round(size / n)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    shards = dict(res[f"written_shards_{w}proc"])
    # CPU cost per sample from the steady state (worker start-up is a one-off of a few CPU-s)
    shards["samples_per_cpu_s"] = res["written_shards_1proc_in_process"]["samples_per_cpu_s"]
    est = {}
    for mode in ("full", "light"):
        p1 = phase1[mode]
        cpu = PAPER_SKELETONS / p1["distinct_per_cpu_s"] + PAPER_SKELETONS * PAPER_K / shards["samples_per_cpu_s"]
        wall = PAPER_SKELETONS / p1["distinct_per_s_wall"] + PAPER_SKELETONS * PAPER_K / shards["samples_per_s_wall"]
        est[mode] = {"cpu_hours": round(cpu / 3600, 2), f"minutes_on_{w}_dedicated_cores": round(cpu / w / 60, 1),
                     "minutes_on_8_dedicated_cores": round(cpu / 8 / 60, 1),
                     f"minutes_wall_extrapolated_on_this_shared_machine_{w}proc": round(wall / 60, 1)}
    res["paper_scale_estimate"] = {"skeletons": PAPER_SKELETONS, "pairs": PAPER_SKELETONS * PAPER_K, **est,
                                   "disk_gb": round(PAPER_SKELETONS * PAPER_K * shards["bytes_per_sample"] / 1e9, 1),
                                   "assumes": "linear scaling in skeletons and cores; dedup share as measured here"}
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
