"""Evaluate a fine-tuned Botfip-LLM run: OTS metrics and a symbolic-regression comparison.

* ``acc_r``, ``s_rl``, ``s_rl_formula`` (paper eqs. 10-12, issue 7's implementation)
  overall and per node count, on validation skeletons never seen in training.
* SR comparison on the same points for both methods: for ``sr_samples`` validation
  functions, ``fit_points`` grid points of their true function (undefined points
  dropped). Ours: the predicted skeleton with L-BFGS constants. gplearn (optional
  extra ``botfip-sr``): a SymbolicRegressor fitted on those points. Reported: MSE, R^2,
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
from formulaforge.models.botfip.checkpoint import load_model
from formulaforge.models.botfip.predict import BotfipPredictor
from formulaforge.training.botfip.data import DEFAULT_CACHE, TeacherFeatures, build_teacher, model_batch
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


def evaluate_run(run_dir: str | Path, *, cache_dir: str | Path | None = DEFAULT_CACHE, samples: int | None = None,
                 sr_samples: int | None = None, gplearn: bool | None = None, beam_size: int | None = None,
                 progress: Any = None) -> dict[str, Any]:
    """Evaluate and write ``RUN_DIR/metrics.json``; returns the metrics."""
    run = Path(run_dir)
    model, cfg, meta = load_model(run)
    task = meta.get("task", "funcimg")
    ec = cfg.eval
    torch.set_num_threads(1)  # small decode steps: one thread beats two busy ones
    val = OptreeDataset(meta["data"]["val"])
    n = min(samples or cfg.data.eval_samples, len(val))
    rng = np.random.default_rng(cfg.data.seed + 99)
    idx = sorted(rng.choice(len(val), size=n, replace=False).tolist())
    predictor = BotfipPredictor(model, beam_size=beam_size or ec.beam_size)
    features = None
    if task == "formula":
        teacher = build_teacher(cfg.model)
        if teacher is None:
            raise ValueError("a formula -> OTS run needs its teacher")
        features = TeacherFeatures(teacher, cache_dir)
    t0 = time.perf_counter()
    preds: list[list[int]] = []
    targets: list[list[int]] = []
    nodes: list[int] = []
    bar = progress.add_task("decode", total=n) if progress is not None else None
    for i in range(0, n, 64):
        raw = val.batch(idx[i:i + 64], pad_id=model.specials.pad)
        if task == "funcimg":
            preds += predictor.ots_from_images(torch.from_numpy(raw.images).float())
        else:
            batch = model_batch(raw, model.specials, features)
            preds += predictor.ots_from_teacher_states(batch.teacher_hidden, batch.teacher_mask)
        targets += [list(map(int, r[m])) for r, m in zip(raw.ots, raw.ots_mask, strict=True)]
        nodes += [int(x) for x in raw.node_counts]
        if progress is not None:
            progress.update(bar, advance=len(raw.node_counts))
    decode_s = time.perf_counter() - t0
    metrics: dict[str, Any] = {"task": task, "run": str(run), "n_samples": n, "beam_size": predictor.beam_size,
                               "decode_seconds": round(decode_s, 2), **ots_metrics(preds, targets, nodes)}
    n_sr = min(sr_samples if sr_samples is not None else ec.sr_samples, n)
    metrics["sr_comparison"] = sr_comparison(val, idx[:n_sr], preds[:n_sr], predictor, cfg,
                                             ec.gplearn if gplearn is None else gplearn, progress)
    write_json_atomic(run / "metrics.json", metrics)
    return metrics


def sr_comparison(val: OptreeDataset, indices: list[int], preds: list[list[int]], predictor: BotfipPredictor,
                  cfg: Any, use_gplearn: bool, progress: Any = None) -> dict[str, Any]:
    ec = cfg.eval
    gp_reason = None
    if use_gplearn:
        try:
            import gplearn  # noqa: F401
        except ImportError:
            use_gplearn, gp_reason = False, "gplearn is not installed (pip install 'formulaforge[botfip-sr]')"
    else:
        gp_reason = "disabled in the config"
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
        t0 = time.perf_counter()
        pred = predictor.fit(ots, xs, y, n_starts=ec.fit_restarts, max_iter=ec.fit_steps, seed=k)
        ours_expr = None
        if pred.valid:
            try:
                ours_expr = to_sympy(decode(ots), pred.constants)
            except OTSDecodeError:
                ours_expr = None
        mse, r2 = (pred.mse, pred.r2) if pred.valid else (float("inf"), float("-inf"))
        row["botfip"] = {"formula": pred.fitted, "mse": mse, "r2": r2,
                         "symbolic": symbolic_solution(ours_expr, truth), "seconds": time.perf_counter() - t0}
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
    methods = ["botfip"] + (["gplearn"] if use_gplearn else [])
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
