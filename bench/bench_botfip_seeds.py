"""Botfip-LLM model vs baselines over seeds (issue 20): one command, one table.

For each seed: pre-train (``train.seed`` = seed; the data are generated once, shared by all
seeds), fine-tune for the function-image task, evaluate with free and grammar-constrained
decoding. The baselines (most frequent / medoid skeleton, nearest-neighbour image, linear
regression, gplearn) are scored in the same evaluation, on the same validation samples
(chosen by the data seed, so identical for every seed). Writes ``OUT/table.md`` and
``OUT/table.json``: mean +- standard deviation over seeds for every method, and whether the
model beats every baseline on S_RL and S~_RL by more than its seed spread.

``--measure N`` instead times N pre-training and N fine-tuning steps (wall and CPU seconds
per step, plus data generation) to size a preset for a CPU budget.

Usage:
  PYTHONPATH=src nice -n 5 python bench/bench_botfip_seeds.py --config configs/botfip-small.yaml \\
      --out /tmp/botfip-seeds --seeds 0 1 2
  PYTHONPATH=src nice -n 5 python bench/bench_botfip_seeds.py --config configs/botfip-small.yaml --measure 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from formulaforge.evaluation.botfip import evaluate_run
from formulaforge.models.botfip.config import BotfipConfig
from formulaforge.training.botfip.data import DEFAULT_CACHE, prepare_datasets, prepare_finetune_dataset
from formulaforge.training.botfip.finetune import finetune
from formulaforge.training.botfip.pretrain import pretrain

OTS_KEYS = ("acc_r", "s_rl", "s_rl_formula")
SR_KEYS = ("r2_median", "r2_solved_rate", "symbolic_solution_rate")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (dataset workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_seed(cfg_path: Path, seed: int, out: Path, data_dir: Path, cache: Path, args: argparse.Namespace
             ) -> dict[str, Any]:
    cfg = BotfipConfig.from_yaml(cfg_path)
    cfg.train.seed = seed
    if args.device:
        cfg.train.device = args.device
    t0, c0 = time.perf_counter(), _cpu()
    pre = out / f"seed{seed}" / "pretrain"
    ft = out / f"seed{seed}" / "funcimg"
    pretrain(cfg, pre, cache_dir=cache, data_dir=data_dir, max_steps=args.pretrain_steps)
    t1, c1 = time.perf_counter(), _cpu()
    finetune(pre, ft, "funcimg", cache_dir=cache, steps=args.finetune_steps, device=args.device)
    t2, c2 = time.perf_counter(), _cpu()
    m = evaluate_run(ft, cache_dir=cache, decoding="both", gplearn=not args.no_gplearn, device=args.device or "auto")
    t3, c3 = time.perf_counter(), _cpu()
    return {"seed": seed, "metrics": m,
            "seconds": {"pretrain": round(t1 - t0, 1), "finetune": round(t2 - t1, 1), "eval": round(t3 - t2, 1)},
            "cpu_seconds": {"pretrain": round(c1 - c0, 1), "finetune": round(c2 - c1, 1), "eval": round(c3 - c2, 1)}}


def _rows(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """method -> metric -> value for one seed (OTS metrics and SR-comparison medians/rates)."""
    m = result["metrics"]
    rows: dict[str, dict[str, float]] = {}
    for mode, r in m["decoding"].items():
        rows[f"botfip ({mode})"] = {k: r[k] for k in OTS_KEYS}
    for name, r in (m.get("baselines") or {}).items():
        rows[name] = {k: r[k] for k in OTS_KEYS}
    for name, r in m["sr_comparison"]["overall"].items():
        key = "botfip (constrained)" if name == "botfip" else name
        rows.setdefault(key, {}).update({k: r[k] for k in SR_KEYS if r.get(k) is not None})
    return rows


def table(results: list[dict[str, Any]]) -> dict[str, Any]:
    per_seed = [_rows(r) for r in results]
    methods = list(dict.fromkeys(k for rows in per_seed for k in rows))
    stats: dict[str, dict[str, dict[str, float]]] = {}
    for method in methods:
        stats[method] = {}
        for key in OTS_KEYS + SR_KEYS:
            vals = [rows[method][key] for rows in per_seed if key in rows.get(method, {})]
            if vals:
                stats[method][key] = {"mean": statistics.fmean(vals),
                                      "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}
    verdict = {}
    model = stats.get("botfip (constrained)", {})
    for key in ("s_rl", "s_rl_formula"):
        if key not in model:
            continue
        base = {m: s[key]["mean"] for m, s in stats.items() if not m.startswith("botfip") and key in s}
        if not base:
            continue
        best = max(base, key=base.get)
        margin = model[key]["mean"] - base[best]
        verdict[key] = {"best_baseline": best, "margin": round(margin, 4), "model_std": round(model[key]["std"], 4),
                        "beats_every_baseline_beyond_seed_spread": bool(margin > model[key]["std"] and len(results) >= 3)}
    return {"methods": stats, "verdict": verdict}


def markdown(tab: dict[str, Any], results: list[dict[str, Any]], cfg_path: Path) -> str:
    seeds = [r["seed"] for r in results]
    head = (f"Config `{cfg_path}`, seeds {seeds}, {results[0]['metrics']['n_samples']} validation samples "
            f"(S_RL norm: {results[0]['metrics']['s_rl_norm']}); mean ± std over seeds.")
    lines = [head, "",
             "| method | Acc_r | S_RL | S~_RL | SR R² median | SR R²>0.999 | SR symbolic |",
             "|---|---|---|---|---|---|---|"]
    for method, s in tab["methods"].items():
        cells = [f"{s[k]['mean']:.3f} ± {s[k]['std']:.3f}" if k in s else "–" for k in OTS_KEYS + SR_KEYS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines.append("")
    for key, v in tab["verdict"].items():
        lines.append(f"- {key}: model − best baseline ({v['best_baseline']}) = {v['margin']:+.4f}, model seed std "
                     f"{v['model_std']:.4f} → beats every baseline beyond the seed spread: "
                     f"{'yes' if v['beats_every_baseline_beyond_seed_spread'] else 'no'}")
    for r in results:
        lines.append(f"- seed {r['seed']}: wall s {r['seconds']}, CPU s {r['cpu_seconds']}")
    return "\n".join(lines) + "\n"


def measure(cfg_path: Path, out: Path, steps: int, cache: Path, device: str | None, skeletons: int
            ) -> dict[str, Any]:
    """Per-step wall/CPU seconds of pre-training and fine-tuning, and the data generation cost.

    The sets are cut to ``skeletons`` skeletons (validation: a quarter): a step's cost does not
    depend on the set's size, and generation cost is reported per skeleton.
    """
    cfg = BotfipConfig.from_yaml(cfg_path)
    full = BotfipConfig.from_yaml(cfg_path)
    if device:
        cfg.train.device = device
    cfg.data.train_skeletons = cfg.data.finetune_skeletons = skeletons
    cfg.data.val_skeletons = max(4, skeletons // 4)
    t, c = time.perf_counter(), _cpu()
    train_ds, val_ds = prepare_datasets(cfg, out / "data")
    prepare_finetune_dataset(cfg, train_ds.path, val_ds.path)
    n_skel = cfg.data.train_skeletons + cfg.data.finetune_skeletons + cfg.data.val_skeletons
    gen = {"seconds": round(time.perf_counter() - t, 1), "cpu_seconds": round(_cpu() - c, 1),
           "skeletons": n_skel, "cpu_seconds_per_skeleton": round((_cpu() - c) / n_skel, 3)}
    s = pretrain(cfg, out / "pre", cache_dir=cache, data_dir=out / "data", max_steps=steps)
    rows = [json.loads(x) for x in (out / "pre" / "losses.jsonl").read_text().splitlines()][2:]
    t, c = time.perf_counter(), _cpu()
    f = finetune(out / "pre", out / "ft", "funcimg", cache_dir=cache, steps=steps, device=device)
    ft_wall, ft_cpu = time.perf_counter() - t, _cpu() - c
    pre_step = statistics.median(r["seconds"] for r in rows)
    pre_cpu = statistics.median(r["cpu_seconds"] for r in rows)
    tc, fd = full.train, full.data
    n_pre = tc.max_steps or tc.epochs * (fd.train_skeletons * fd.constants_per_skeleton // tc.batch_size)
    n_ft = tc.finetune_steps or tc.finetune_epochs * (fd.finetune_skeletons * fd.finetune_constants_per_skeleton
                                                      // tc.batch_size)
    full_skel = fd.train_skeletons + fd.finetune_skeletons + fd.val_skeletons
    return {"config": str(cfg_path), "device": s["device"], "load": _load(), "data_generation": gen,
            "pretrain_step": {"wall_s": round(pre_step, 3), "cpu_s": round(pre_cpu, 3), "batch": tc.batch_size},
            "finetune_step_incl_setup": {"wall_s": round(ft_wall / max(1, f["steps"]), 3),
                                         "cpu_s": round(ft_cpu / max(1, f["steps"]), 3)},
            "full_run_estimate_cpu_min": {"pretrain_steps": n_pre, "finetune_steps": n_ft,
                                          "training_per_seed": round((n_pre * pre_cpu + n_ft * ft_cpu / max(1, f["steps"]))
                                                                     / 60, 1),
                                          "data_generation_once": round(full_skel * gen["cpu_seconds_per_skeleton"] / 60,
                                                                        1)}}


def collect(folders: list[Path], seeds: list[int]) -> list[dict[str, Any]]:
    """The finished seeds' metrics (``DIR/seedN/funcimg/metrics.json``) as :func:`run_seed` results."""
    found: dict[int, dict[str, Any]] = {}
    for folder in folders:
        for seed in seeds:
            path = folder / f"seed{seed}" / "funcimg" / "metrics.json"
            if seed not in found and path.is_file():
                found[seed] = {"seed": seed, "metrics": json.loads(path.read_text()), "seconds": {},
                               "cpu_seconds": {}, "from": str(path)}
    missing = sorted(set(seeds) - set(found))
    if missing:
        raise SystemExit(f"error: no finished metrics for seed(s) {missing} in {', '.join(map(str, folders))}")
    return [found[s] for s in seeds]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=Path("configs/botfip-small.yaml"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/botfip-seeds"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--pretrain-steps", type=int, default=None, help="cap pre-training steps (default: the config)")
    ap.add_argument("--finetune-steps", type=int, default=None, help="fine-tuning steps (default: the config)")
    ap.add_argument("--device", default=None, help="auto, cpu, cuda (default: the config's train.device)")
    ap.add_argument("--no-gplearn", action="store_true")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--measure", type=int, default=0, help="only time this many steps of each stage")
    ap.add_argument("--measure-skeletons", type=int, default=40, help="skeletons per set when measuring")
    ap.add_argument("--collect", type=Path, nargs="+", default=None,
                    help="no training: build the table from finished seeds in these OUT folders "
                         "(seeds run as separate processes, e.g. one per core)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.measure:
        res = measure(args.config, args.out / "measure", args.measure, args.cache_dir, args.device,
                      args.measure_skeletons)
        print(json.dumps(res, indent=1))
        (args.out / "measure.json").write_text(json.dumps(res, indent=1))
        return
    results = []
    if args.collect:
        results = collect(args.collect, args.seeds)
    for seed in [] if args.collect else args.seeds:
        results.append(run_seed(args.config, seed, args.out, args.out / "data", args.cache_dir, args))
        print(f"seed {seed}: {results[-1]['seconds']} (load {_load()})", flush=True)
    tab = table(results)
    (args.out / "table.json").write_text(json.dumps({"table": tab, "runs": [
        {k: v for k, v in r.items() if k != "metrics"} | {"metrics_file": str(args.out / f"seed{r['seed']}" / "funcimg" /
                                                                              "metrics.json")} for r in results]},
        indent=1))
    md = markdown(tab, results, args.config)
    (args.out / "table.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
