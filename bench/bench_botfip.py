"""Botfip-LLM benchmark (issue 8), one run, side by side:

1. Pre-training throughput (samples/s) with cached teacher features vs running the
   frozen teacher every step, for the packaged teachers (all-MiniLM-L6-v2, SmolLM2-135M).
2. Tiny preset end to end, Botfip-LLM (KD weight 1) vs Botfip (KD weight 0) with the same
   data and seeds: pre-train -> fine-tune funcimg -> eval (Acc_r, S_RL, S~_RL, SR vs gplearn),
   wall time of each stage; plus formula -> OTS fine-tuning from the KD run.

Usage: PYTHONPATH=src nice -n 10 python bench/bench_botfip.py [--out /tmp/botfip-bench] [--steps 12]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from formulaforge.evaluation.botfip import evaluate_run
from formulaforge.models.botfip.config import BotfipConfig
from formulaforge.training.botfip_finetune import finetune
from formulaforge.training.botfip_pretrain import pretrain

ROOT = Path(__file__).resolve().parents[1]


def throughput(out: Path, teacher: str, steps: int, cache_dir: Path) -> dict:
    cfg = BotfipConfig.from_yaml(ROOT / "configs" / "botfip-tiny.yaml")
    cfg.model.teacher = teacher
    res = {}
    for cached in (True, False):
        s = pretrain(cfg, out / f"tp-{teacher}-{'cache' if cached else 'live'}", cache_dir=cache_dir,
                     data_dir=out / "data", use_cache=cached, max_steps=steps)
        res["cached" if cached else "live"] = s["samples_per_second"]
    res["ratio"] = round(res["cached"] / res["live"], 2)
    return res


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
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    cache_dir = out / "teacher-cache"
    report: dict = {}
    # the KD pipeline runs first on fresh data: its wall time includes dataset generation
    report["tiny_kd"] = pipeline(out, 1.0, cache_dir, gplearn=True)
    print("tiny KD   ", json.dumps(report["tiny_kd"]), flush=True)
    report["tiny_nokd"] = pipeline(out, 0.0, cache_dir, gplearn=False)
    print("tiny no-KD", json.dumps(report["tiny_nokd"]), flush=True)
    for seed in (1, 2):  # same data, other init/batch order: how much of the KD effect is noise
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
    if not args.skip_throughput:
        for teacher in ("minilm", "smollm2"):
            report[f"throughput_{teacher}"] = throughput(out, teacher, args.steps, cache_dir)
            print(f"throughput {teacher}", json.dumps(report[f"throughput_{teacher}"]), flush=True)
    kd, nokd = report["tiny_kd"], report["tiny_nokd"]
    print(f"\nseed 0: S_RL  KD {kd['s_rl']:.4f} vs no-KD {nokd['s_rl']:.4f}  (diff {kd['s_rl'] - nokd['s_rl']:+.4f})")
    for metric in ("s_rl", "s_rl_formula"):
        a = [report[k][metric] for k in ("tiny_kd", "tiny_kd_seed1", "tiny_kd_seed2")]
        b = [report[k][metric] for k in ("tiny_nokd", "tiny_nokd_seed1", "tiny_nokd_seed2")]
        print(f"{metric} over 3 seeds: KD {sum(a) / 3:.4f} {a} vs no-KD {sum(b) / 3:.4f} {b}")
    print(f"tiny preset wall time (KD run, incl. data generation): {kd['total_s']} s")
    (out / "bench.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
