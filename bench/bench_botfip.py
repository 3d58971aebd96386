"""Botfip-LLM benchmark (issue 8), one run, side by side:

1. Pre-training throughput (samples/s) with cached teacher features vs running the
   frozen teacher every step, for the packaged teachers (all-MiniLM-L6-v2, SmolLM2-135M).
2. Tiny preset end to end, Botfip-LLM (KD weight 1) vs Botfip (KD weight 0) with the same
   data and seeds: pre-train -> fine-tune funcimg -> eval (Acc_r, S_RL, S~_RL, SR vs gplearn),
   wall time of each stage; plus formula -> OTS fine-tuning from the KD run.
3. The cached path's feature lookup alone (per-sample dict + pad loop vs the padded in-memory table).

Throughput runs alternate cached / live (``rounds`` times) and report the median per-step time
after the first two steps, so a load change on the shared machine hits both columns alike.

Usage: PYTHONPATH=src nice -n 10 python bench/bench_botfip.py [--out /tmp/botfip-bench] [--steps 16] [--seeds 5]
       [--only-throughput | --skip-throughput]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from formulaforge.evaluation.botfip import evaluate_run
from formulaforge.models.botfip.config import BotfipConfig
from formulaforge.training.botfip.finetune import finetune
from formulaforge.training.botfip.pretrain import pretrain

ROOT = Path(__file__).resolve().parents[1]


def _step_stats(run: Path, skip: int = 2, key: str = "seconds") -> tuple[list[float], float]:
    """(wall or CPU seconds of each step after the first ``skip``, samples per step) from losses.jsonl."""
    rows = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    return [r[key] for r in rows[skip:]], rows[-1]["samples"]


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def throughput(out: Path, teacher: str, steps: int, cache_dir: Path, rounds: int = 3) -> dict:
    """Cached vs live teacher, interleaved ``rounds`` times (machine load drifts); medians of per-step times."""
    cfg = BotfipConfig.from_yaml(ROOT / "configs" / "botfip-tiny.yaml")
    cfg.model.teacher = teacher
    modes = [("cached", True), ("live", False)]
    steps_s: dict[str, list[list[float]]] = {m: [] for m, _ in modes}
    cpu_s: dict[str, list[float]] = {m: [] for m, _ in modes}
    batch = 0
    for r in range(rounds):
        for mode, cached in modes:
            run = out / f"tp-{teacher}-{mode}-{r}"
            pretrain(cfg, run, cache_dir=cache_dir, data_dir=out / "data", use_cache=cached, max_steps=steps)
            sec, batch = _step_stats(run)
            steps_s[mode].append(sec)
            cpu_s[mode] += _step_stats(run, key="cpu_seconds")[0]
            shutil.rmtree(run, ignore_errors=True)
    res: dict = {"batch": batch, "steps_per_run": steps, "rounds": rounds}
    for mode, rounds_secs in steps_s.items():
        med = _median([x for secs in rounds_secs for x in secs])  # all steps of all rounds pooled
        res[f"{mode}_ms_per_step"] = round(1000 * med, 1)
        res[f"{mode}_samples_per_s"] = round(batch / med, 1)
        res[f"{mode}_ms_per_round"] = [round(1000 * _median(secs), 1) for secs in rounds_secs]
    for mode, secs in cpu_s.items():  # CPU time of the process: what waiting for a shared core does not inflate
        res[f"{mode}_cpu_ms_per_step"] = round(1000 * _median(secs), 1)
    res["ratio"] = round(res["cached_samples_per_s"] / res["live_samples_per_s"], 2)
    res["ratio_cpu"] = round(res["live_cpu_ms_per_step"] / res["cached_cpu_ms_per_step"], 2)
    return res


def lookup_speed(out: Path, cache_dir: Path, reps: int = 200) -> dict:
    """The cached path's feature lookup alone: per-sample dict + pad loop (before) vs the padded table (now)."""
    from formulaforge.datasets.optrees.dataset import OptreeDataset
    from formulaforge.models.botfip.feature_cache import pad_features
    from formulaforge.training.botfip.data import TeacherFeatures, build_teacher

    cfg = BotfipConfig.from_yaml(ROOT / "configs" / "botfip-tiny.yaml")
    ds = OptreeDataset(out / "data" / "train")
    feats = TeacherFeatures(build_teacher(cfg.model), cache_dir)
    feats.warm([s["formula"] for s in ds.skeletons])
    batches = [list(b.formulas) for _, b in zip(range(reps), ds.iter_batches(cfg.train.batch_size, seed=5))]
    t0 = time.perf_counter()
    for f in batches:
        pad_features(feats.cache.get(f, feats.teacher))
    t1 = time.perf_counter()
    for f in batches:
        feats.cache.get_padded(f, feats.teacher)
    t2 = time.perf_counter()
    n = len(batches)
    return {"dict_and_pad_ms": round(1000 * (t1 - t0) / n, 3), "table_ms": round(1000 * (t2 - t1) / n, 3)}


def pipeline(out: Path, kd: float, cache_dir: Path, gplearn: bool, seed: int = 0) -> dict:
    cfg = BotfipConfig.from_yaml(ROOT / "configs" / "botfip-tiny.yaml")
    cfg.loss.kd = kd
    cfg.train.seed = seed
    name = ("kd" if kd else "nokd") + (f"-s{seed}" if seed else "")
    t0 = time.perf_counter()
    pre = pretrain(cfg, out / f"{name}-pre", cache_dir=cache_dir, data_dir=out / "data")
    t1 = time.perf_counter()
    finetune(out / f"{name}-pre", out / f"{name}-ft", "funcimg", cache_dir=cache_dir)
    t2 = time.perf_counter()
    m = evaluate_run(out / f"{name}-ft", cache_dir=cache_dir, gplearn=gplearn)
    t3 = time.perf_counter()
    sr = m["sr_comparison"]["overall"]
    return {"pretrain_s": round(t1 - t0, 1), "finetune_s": round(t2 - t1, 1), "eval_s": round(t3 - t2, 1),
            "total_s": round(t3 - t0, 1), "final_losses": pre["final_losses"], "alignment_gap": pre["alignment_gap"],
            "acc_r": m["acc_r"], "s_rl": round(m["s_rl"], 4), "s_rl_formula": round(m["s_rl_formula"], 4),
            "by_node_count": {k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in m["by_node_count"].items()},
            "sr": {k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                   for k, v in sr.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/botfip-bench")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=5, help="seeds of the KD vs no-KD comparison")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--only-throughput", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    cache_dir = out / "teacher-cache"
    report: dict = {}
    if not args.only_throughput:
        kd_vs_nokd(out, cache_dir, args.seeds, report)
    if not args.skip_throughput:
        if args.only_throughput:  # data for the throughput runs
            pretrain(BotfipConfig.from_yaml(ROOT / "configs" / "botfip-tiny.yaml"), out / "data-only",
                     cache_dir=cache_dir, data_dir=out / "data", max_steps=1)
        report["lookup_minilm"] = lookup_speed(out, cache_dir)
        print("cached lookup per batch", json.dumps(report["lookup_minilm"]), flush=True)
        for teacher in ("minilm", "smollm2"):
            report[f"throughput_{teacher}"] = throughput(out, teacher, args.steps, cache_dir)
            print(f"throughput {teacher}", json.dumps(report[f"throughput_{teacher}"]), flush=True)
    (out / "bench.json").write_text(json.dumps(report, indent=1))


def kd_vs_nokd(out: Path, cache_dir: Path, n_seeds: int, report: dict) -> None:
    # the KD pipeline runs first on fresh data: its wall time includes dataset generation
    report["tiny_kd"] = pipeline(out, 1.0, cache_dir, gplearn=True)
    print("tiny KD   ", json.dumps(report["tiny_kd"]), flush=True)
    report["tiny_nokd"] = pipeline(out, 0.0, cache_dir, gplearn=False)
    print("tiny no-KD", json.dumps(report["tiny_nokd"]), flush=True)
    for seed in range(1, n_seeds):  # same data, other init/batch order: how much of the KD effect is noise
        for kd_w in (1.0, 0.0):
            r = pipeline(out, kd_w, cache_dir, gplearn=False, seed=seed)
            report[f"tiny_{'kd' if kd_w else 'nokd'}_seed{seed}"] = r
            print(f"seed {seed} kd={kd_w}", json.dumps({k: r[k] for k in ("s_rl", "s_rl_formula", "alignment_gap")}),
                  flush=True)
    t0 = time.perf_counter()
    finetune(out / "kd-pre", out / "kd-ft-formula", "formula", cache_dir=cache_dir)
    mf = evaluate_run(out / "kd-ft-formula", cache_dir=cache_dir, gplearn=False)
    report["tiny_kd_formula"] = {"seconds": round(time.perf_counter() - t0, 1), "acc_r": mf["acc_r"],
                                 "s_rl": round(mf["s_rl"], 4), "s_rl_formula": round(mf["s_rl_formula"], 4)}
    print("formula->OTS", json.dumps(report["tiny_kd_formula"]), flush=True)
    kd, nokd = report["tiny_kd"], report["tiny_nokd"]
    kd_keys = ["tiny_kd"] + [f"tiny_kd_seed{s}" for s in range(1, n_seeds)]
    nokd_keys = ["tiny_nokd"] + [f"tiny_nokd_seed{s}" for s in range(1, n_seeds)]
    for metric in ("s_rl", "s_rl_formula"):
        a = [report[k][metric] for k in kd_keys]
        b = [report[k][metric] for k in nokd_keys]
        diffs = [x - y for x, y in zip(a, b, strict=True)]
        mean = sum(diffs) / len(diffs)
        sd = (sum((d - mean) ** 2 for d in diffs) / max(1, len(diffs) - 1)) ** 0.5
        report[f"kd_effect_{metric}"] = {"kd": a, "nokd": b, "paired_diffs": [round(d, 4) for d in diffs],
                                         "mean_diff": round(mean, 4), "sd_diff": round(sd, 4),
                                         "kd_better": sum(d > 0 for d in diffs), "n": len(diffs)}
        print(f"{metric} over {n_seeds} seeds: KD {sum(a) / len(a):.4f} {a} vs no-KD {sum(b) / len(b):.4f} {b}; "
              f"paired diff {mean:+.4f} +- {sd:.4f} (sd), KD better in {sum(d > 0 for d in diffs)}/{len(diffs)}")
    print(f"tiny preset wall time (KD run, incl. data generation): {kd['total_s']} s "
          f"(pre-train {kd['pretrain_s']} + fine-tune {kd['finetune_s']} + eval {kd['eval_s']})")
    print(f"seed 0: S_RL  KD {kd['s_rl']:.4f} vs no-KD {nokd['s_rl']:.4f}")


if __name__ == "__main__":
    main()
