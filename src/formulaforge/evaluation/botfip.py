"""Evaluate a fine-tuned Botfip-LLM run: OTS metrics and a symbolic-regression comparison.

* ``acc_r``, ``s_rl``, ``s_rl_formula`` (paper eqs. 10-12, issue 7's implementation)
  overall and per node count, on validation skeletons never seen in training, from
  grammar-constrained decoding (Acc_r = 1 by construction) and/or free decoding (the
  paper's Acc_r); S_RL divided by the target length (eq. 11) or, as an option, by the
  longer length (the earlier Botfip code).
* the same metrics for trivial baselines on the same samples (:mod:`.botfip_baselines`).
* SR comparison on the same points for both methods: for ``sr_samples`` validation
  functions, ``fit_points`` grid points of their true function (undefined points
  dropped). Ours: the predicted skeleton with L-BFGS constants; the medoid and nearest-
  neighbour skeletons fitted the same way; linear regression; gplearn (extra ``eval``,
  installed by ``make test``): a SymbolicRegressor fitted on those points. Reported: MSE, R^2,
  the SRBench-style solution criteria (R^2 > 0.999; symbolic difference to the truth
  constant after simplification, constants rounded to 3 significant digits), per node
  count. PySR needs Julia and is skipped with that reason.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
import torch

from formulaforge.datasets.optrees.dataset import OptreeDataset
from formulaforge.datasets.optrees.evaluate import evaluate
from formulaforge.datasets.optrees.metrics import ots_metrics
from formulaforge.datasets.optrees.ots import OTSDecodeError, decode
from formulaforge.datasets.optrees.symbolic import to_sympy
from formulaforge.evaluation.botfip_baselines import SkeletonBaselines, linear_fit
from formulaforge.models.botfip.checkpoint import load_model
from formulaforge.models.botfip.config import DECODINGS, S_RL_NORMS
from formulaforge.models.botfip.predict import BotfipPredictor
from formulaforge.training.botfip.data import (
    DEFAULT_CACHE,
    TeacherFeatures,
    build_teacher,
    indices_with_nodes,
    model_batch,
)
from formulaforge.utils.atomic import write_json_atomic
from formulaforge.utils.timeout import CASTimeout, time_limit

R2_SOLVED = 0.999


def _round_floats(expr: sp.Expr, digits: int = 3) -> sp.Expr:
    return expr.xreplace({f: sp.Float(float(f"{float(f):.{digits}g}")) for f in expr.atoms(sp.Float)})


def symbolic_solution(pred: sp.Expr | None, truth: sp.Expr, timeout: float = 2.0) -> bool:
    """SRBench criterion: ``truth - pred`` simplifies to a constant (constants rounded)."""
    if pred is None:
        return False
    try:
        with time_limit(timeout):
            diff = sp.simplify(_round_floats(truth) - _round_floats(pred))
            return not diff.free_symbols
    except (CASTimeout, RecursionError, TypeError, ValueError, ZeroDivisionError):
        return False


def _metrics(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(pred)
    if not ok.all():
        return float("inf"), float("-inf")
    mse = float(np.mean((pred - y) ** 2))
    var = float(np.var(y))
    return mse, (1.0 - mse / var) if var > 0 else float("nan")


def _gplearn_fit(xs: np.ndarray, y: np.ndarray, generations: int, population: int, seed: int
                 ) -> tuple[np.ndarray, sp.Expr | None, str]:
    from gplearn.genetic import SymbolicRegressor

    est = SymbolicRegressor(population_size=population, generations=generations, random_state=seed,
                            function_set=("add", "sub", "mul", "div", "sin", "tan", "log", "sqrt", "abs", "neg",
                                          "inv"),
                            parsimony_coefficient=0.001, n_jobs=1, verbose=0)
    est.fit(xs, y)
    program = str(est._program)
    names = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
             "div": lambda a, b: a / b, "sin": sp.sin, "tan": sp.tan, "log": lambda a: sp.log(sp.Abs(a)),
             "sqrt": lambda a: sp.sqrt(sp.Abs(a)), "abs": sp.Abs, "neg": lambda a: -a, "inv": lambda a: 1 / a,
             "X0": sp.Symbol("x0", real=True), "X1": sp.Symbol("x1", real=True)}
    try:
        with time_limit(2.0):
            expr = sp.sympify(program, locals=names)
    except Exception:  # noqa: BLE001 - a program we cannot read still has numeric scores
        expr = None
    return est.predict(xs), expr, program


def _summary(rows: list[dict[str, Any]], method: str) -> dict[str, Any]:
    mses = [r[method]["mse"] for r in rows]
    r2s = [r[method]["r2"] for r in rows]
    finite = [m for m in mses if math.isfinite(m)]
    return {
        "n": len(rows),
        "mse_median": float(np.median(finite)) if finite else None,
        "mse_mean": float(np.mean(finite)) if finite else None,
        "r2_median": float(np.median([r if math.isfinite(r) else -1e9 for r in r2s])) if r2s else None,
        "r2_solved_rate": sum(r > R2_SOLVED for r in r2s if math.isfinite(r)) / max(1, len(rows)),
        "symbolic_solution_rate": sum(r[method]["symbolic"] for r in rows) / max(1, len(rows)),
        "seconds_mean": float(np.mean([r[method]["seconds"] for r in rows])) if rows else None,
    }


def _decode(task: str, predictor: BotfipPredictor, val: OptreeDataset, idx: list[int], features: Any,
            constrained: bool, progress: Any = None) -> tuple[list[list[int]], list[list[int]], list[int], float]:
    """(predictions, targets, node counts, seconds) for the samples ``idx``."""
    predictor.constrained = constrained
    t0 = time.perf_counter()
    preds: list[list[int]] = []
    targets: list[list[int]] = []
    nodes: list[int] = []
    label = "decode (grammar)" if constrained else "decode (free)"
    bar = progress.add_task(label, total=len(idx)) if progress is not None else None
    for i in range(0, len(idx), 64):
        raw = val.batch(idx[i:i + 64], pad_id=predictor.model.specials.pad)
        if task == "funcimg":
            preds += predictor.ots_from_images(torch.from_numpy(raw.images).float())
        else:
            batch = model_batch(raw, predictor.model.specials, features)
            preds += predictor.ots_from_teacher_states(batch.teacher_hidden, batch.teacher_mask)
        targets += [list(map(int, r[m])) for r, m in zip(raw.ots, raw.ots_mask, strict=True)]
        nodes += [int(x) for x in raw.node_counts]
        if progress is not None:
            progress.update(bar, advance=len(raw.node_counts))
    return preds, targets, nodes, time.perf_counter() - t0


def eval_indices(val: OptreeDataset, n: int, seed: int, nodes: list[int] | None) -> list[int]:
    """The evaluated validation samples: ``n`` drawn with ``seed`` among those with ``nodes`` nodes (all if empty)."""
    pool = indices_with_nodes(val, nodes)
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(pool, size=min(n, pool.size), replace=False).tolist())


def evaluate_run(run_dir: str | Path, *, cache_dir: str | Path | None = DEFAULT_CACHE, samples: int | None = None,
                 sr_samples: int | None = None, gplearn: bool | None = None, beam_size: int | None = None,
                 decoding: str | None = None, s_rl_norm: str | None = None, baselines: bool | None = None,
                 device: str = "auto", progress: Any = None) -> dict[str, Any]:
    """Evaluate and write ``RUN_DIR/metrics.json``; returns the metrics.

    ``decoding``: ``constrained`` (OTS grammar, Acc_r = 1 by construction), ``free`` (the paper's
    Acc_r) or ``both``; the top-level ``acc_r`` / ``s_rl`` / ``s_rl_formula`` are the constrained
    run's when there is one, ``acc_r_free`` the free run's. Baselines (:mod:`.botfip_baselines`)
    are scored on the same samples.
    """
    run = Path(run_dir)
    model, cfg, meta = load_model(run, device)
    task = meta.get("task", "funcimg")
    ec = cfg.eval
    decoding = decoding or ec.decoding
    norm = s_rl_norm or ec.s_rl_norm
    if decoding not in DECODINGS:
        raise ValueError(f"decoding must be one of {', '.join(DECODINGS)}, got {decoding!r}")
    if norm not in S_RL_NORMS:
        raise ValueError(f"S_RL norm must be one of {', '.join(S_RL_NORMS)}, got {norm!r}")
    torch.set_num_threads(1)  # small decode steps: one thread beats two busy ones
    val = OptreeDataset(meta["data"]["val"])
    nodes = list(cfg.train.finetune_nodes or [])
    idx = eval_indices(val, samples or cfg.data.eval_samples, cfg.data.seed + 99, nodes)
    n = len(idx)
    if n == 0:
        raise ValueError(f"the validation set has no sample with {nodes} nodes")
    predictor = BotfipPredictor(model, beam_size=beam_size or ec.beam_size)
    features = None
    if task == "formula":
        teacher = build_teacher(cfg.model, device=cfg.model.teacher_device or predictor.device)
        if teacher is None:
            raise ValueError("a formula -> OTS run needs its teacher")
        features = TeacherFeatures(teacher, cache_dir)
    modes = ["constrained", "free"] if decoding == "both" else [decoding]
    runs: dict[str, Any] = {}
    preds_by: dict[str, list[list[int]]] = {}
    targets: list[list[int]] = []
    nodes_of: list[int] = []
    for mode in modes:
        preds, targets, nodes_of, secs = _decode(task, predictor, val, idx, features, mode == "constrained", progress)
        preds_by[mode] = preds
        runs[mode] = {"decode_seconds": round(secs, 2), **ots_metrics(preds, targets, nodes_of, norm=norm)}
    predictor.constrained = True
    main = runs[modes[0]]
    metrics: dict[str, Any] = {
        "task": task, "run": str(run), "n_samples": n, "beam_size": predictor.beam_size, "device": str(predictor.device),
        "s_rl_norm": norm, "nodes": nodes or "all", "decoding": runs,
        "acc_r": main["acc_r"], "s_rl": main["s_rl"], "s_rl_formula": main["s_rl_formula"],
        "decode_seconds": main["decode_seconds"], "by_node_count": main.get("by_node_count", {}),
        **({"acc_r_free": runs["free"]["acc_r"]} if "free" in runs else {}),
    }
    use_baselines = ec.baselines if baselines is None else baselines
    base = None
    base_preds: dict[str, list[list[int]]] = {}
    if use_baselines:
        ft_path = (meta.get("data") or {}).get("finetune")
        if not ft_path:
            raise ValueError(f"{run} does not name its fine-tuning set; the baselines need it (use --no-baselines)")
        ft = OptreeDataset(ft_path)
        base = SkeletonBaselines(ft, indices_with_nodes(ft, nodes), norm=norm, seed=cfg.data.seed)
        base_preds = {"most_frequent": [base.most_frequent] * n, "medoid": [base.medoid] * n}
        raw_all = [val.batch(idx[i:i + 256]) for i in range(0, n, 256)]
        if task == "funcimg":
            base_preds["nearest_neighbour"] = [o for r in raw_all for o in base.nearest_images(torch.from_numpy(r.images))]
        else:
            base_preds["nearest_neighbour"] = [o for r in raw_all for o in base.nearest_formulas(list(r.formulas))]
        metrics["baselines"] = {name: ots_metrics(p, targets, nodes_of, norm=norm) for name, p in base_preds.items()}
        metrics["baselines"]["medoid"]["ots"] = base.medoid
        metrics["baselines"]["most_frequent"]["ots"] = base.most_frequent
    n_sr = min(sr_samples if sr_samples is not None else ec.sr_samples, n)
    sr_preds = preds_by.get("constrained") or preds_by["free"]
    metrics["sr_comparison"] = sr_comparison(
        val, idx[:n_sr], sr_preds[:n_sr], predictor, cfg, ec.gplearn if gplearn is None else gplearn, progress,
        others={k: v[:n_sr] for k, v in base_preds.items() if k != "most_frequent"},
        linear=use_baselines)
    write_json_atomic(run / "metrics.json", metrics)
    return metrics


def sr_comparison(val: OptreeDataset, indices: list[int], preds: list[list[int]], predictor: BotfipPredictor,
                  cfg: Any, use_gplearn: bool, progress: Any = None,
                  others: dict[str, list[list[int]]] | None = None, linear: bool = True) -> dict[str, Any]:
    """Ours, the baselines' skeletons (``others``, constants fitted like ours), linear regression and
    gplearn, all on the same points of each validation function."""
    ec = cfg.eval
    others = others or {}
    gp_reason = None
    if use_gplearn:
        try:
            import gplearn  # noqa: F401
        except ImportError:
            use_gplearn, gp_reason = False, "gplearn is not installed (pip install 'formulaforge[eval]')"
    else:
        gp_reason = "disabled (--no-gplearn or eval.gplearn: false)"
    rows: list[dict[str, Any]] = []
    bar = progress.add_task("SR comparison", total=len(indices)) if progress is not None else None
    x0g, x1g = predictor.grid.inputs
    for k, (i, ots) in enumerate(zip(indices, preds, strict=True)):
        item = val[i]
        tree = decode(item["ots"])
        consts = np.asarray(item["constants"], dtype=np.float64)
        rng = np.random.default_rng(k)
        pick = rng.choice(x0g.size, size=min(4 * ec.fit_points, x0g.size), replace=False)
        xs = [x0g.ravel()[pick], x1g.ravel()[pick]]
        y = evaluate(tree, consts, xs)
        ok = np.isfinite(y)
        xs, y = [x[ok][: ec.fit_points] for x in xs], y[ok][: ec.fit_points]
        truth = to_sympy(tree, consts)
        row: dict[str, Any] = {"index": i, "node_count": int(item["node_count"]), "target_ots": item["ots"],
                               "truth": sp.sstr(_round_floats(truth))}
        for name, skeleton in [("botfip", ots)] + [(m, p[k]) for m, p in others.items()]:
            row[name] = _fit_row(predictor, skeleton, xs, y, truth, ec, k)
        if linear:
            t0 = time.perf_counter()
            yhat, expr = linear_fit(xs, y)
            l_mse, l_r2 = _metrics(yhat, y)
            row["linear"] = {"formula": sp.sstr(_round_floats(expr)), "mse": l_mse, "r2": l_r2,
                             "symbolic": symbolic_solution(expr, truth), "seconds": time.perf_counter() - t0}
        if use_gplearn:
            t0 = time.perf_counter()
            yhat, expr, program = _gplearn_fit(np.stack(xs, 1), y, ec.gplearn_generations,
                                               ec.gplearn_population, k)
            g_mse, g_r2 = _metrics(yhat, y)
            row["gplearn"] = {"formula": program, "mse": g_mse, "r2": g_r2,
                              "symbolic": symbolic_solution(expr, truth), "seconds": time.perf_counter() - t0}
        rows.append(row)
        if progress is not None:
            progress.update(bar, advance=1)
    methods = ["botfip", *others] + (["linear"] if linear else []) + (["gplearn"] if use_gplearn else [])
    by_nodes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_nodes[r["node_count"]].append(r)
    return {
        "n": len(rows), "points_per_function": ec.fit_points,
        "overall": {m: _summary(rows, m) for m in methods},
        "by_node_count": {str(k): {m: _summary(v, m) for m in methods} for k, v in sorted(by_nodes.items())},
        "skipped": {**({"gplearn": gp_reason} if gp_reason else {}),
                    "pysr": "needs a Julia installation; not run"},
        "rows": rows,
    }


def _fit_row(predictor: BotfipPredictor, ots: list[int], xs: list[np.ndarray], y: np.ndarray, truth: sp.Expr,
             ec: Any, seed: int) -> dict[str, Any]:
    """One skeleton's L-BFGS fit on the points, scored like every method."""
    t0 = time.perf_counter()
    pred = predictor.fit(ots, xs, y, n_starts=ec.fit_restarts, max_iter=ec.fit_steps, seed=seed)
    expr = None
    if pred.valid:
        try:
            expr = to_sympy(decode(ots), pred.constants)
        except OTSDecodeError:
            expr = None
    mse, r2 = (pred.mse, pred.r2) if pred.valid else (float("inf"), float("-inf"))
    return {"formula": pred.fitted, "ots": list(ots), "mse": mse, "r2": r2,
            "symbolic": symbolic_solution(expr, truth), "seconds": time.perf_counter() - t0}
