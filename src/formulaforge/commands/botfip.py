"""``formulaforge botfip``: pre-train, fine-tune, evaluate and run Botfip-LLM."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from formulaforge.commands._common import UserError, friendly_errors

app = typer.Typer(help="Botfip-LLM: function images / formula strings -> operation trees.", no_args_is_help=True)

CACHE_HELP = "Teacher-feature cache folder (default ~/.cache/formulaforge/botfip-teacher)."
DEVICE_HELP = "auto (CUDA when torch sees a GPU, else CPU), cpu, cuda or cuda:N; under torchrun cuda = cuda:$LOCAL_RANK."


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def _claim(out: Path, kind: str, force: bool) -> None:
    """Refuse a folder that holds something else, before any work; under torchrun rank 0 marks it."""
    import os

    from formulaforge.utils.atomic import check_output, claim_output

    if os.environ.get("RANK", "0") == "0":
        claim_output(out, kind, force=force)
    else:
        check_output(out, kind, force=True)  # rank 0 has checked (and may be writing the marker)


def _cache(cache_dir: Path | None):
    from formulaforge.training.botfip.data import DEFAULT_CACHE

    return cache_dir or DEFAULT_CACHE


@app.command()
@friendly_errors
def pretrain(
    config: Path = typer.Option(..., "--config", help="YAML config (configs/botfip-tiny.yaml, configs/botfip-paper.yaml)."),
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
    data_dir: Path | None = typer.Option(None, help="Where to generate/reuse datasets (default OUT/data)."),
    cache_dir: Path | None = typer.Option(None, help=CACHE_HELP),
    no_kd: bool = typer.Option(False, "--no-kd", help="Set the KD weight to 0 (plain Botfip)."),
    max_steps: int | None = typer.Option(None, help="Stop after this many steps."),
    device: str | None = typer.Option(None, "--device", help=DEVICE_HELP + " Default: train.device (auto)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code",
                                           help="Let the teacher's repository run its own Python code (ChatGLM-2, "
                                                "RWKV-6 need it). Off by default; only for code you trust."),
    teacher_features: str | None = typer.Option(None, "--teacher-features",
                                                help="hidden (last hidden states) or logits (LM-head outputs, "
                                                     "width = vocabulary size). Default: model.teacher_features."),
    force: bool = typer.Option(False, "--force", help="Write into OUT even when it holds something else."),
) -> None:
    """Pre-train with FOC + FOM + OM + KD (paper eq. 7). Under torchrun, one process per rank."""
    from formulaforge.models.botfip.config import BotfipConfig
    from formulaforge.models.botfip.device import resolve_device
    from formulaforge.training.botfip.distributed import dist_info, init_from_env
    from formulaforge.training.botfip.pretrain import pretrain as run

    cfg = BotfipConfig.from_yaml(config)  # also checks that this machine can load the teacher dtype
    _claim(out, "botfip-pretrain", force)
    if no_kd:
        cfg.loss.kd = 0.0
    if device is not None:
        cfg.train.device = device
    if trust_remote_code:
        cfg.model.teacher_trust_remote_code = True
    if teacher_features is not None:
        if teacher_features not in ("hidden", "logits"):
            raise UserError(f"--teacher-features must be hidden or logits, got {teacher_features!r}")
        cfg.model.teacher_features = teacher_features
    resolve_device(cfg.train.device)  # a bad --device fails before any work
    created = init_from_env(cfg.train.device)
    try:
        main = dist_info().is_main
        with _progress() as progress:
            summary = run(cfg, out, cache_dir=_cache(cache_dir), data_dir=data_dir,
                          progress=progress if main else None, max_steps=max_steps)
    finally:
        if created:
            import torch.distributed as dist

            dist.destroy_process_group()
    if main:
        typer.echo(json.dumps({k: summary[k] for k in ("steps", "samples_per_second", "final_losses")}, indent=1))
        typer.echo(f"wrote {out}")


@app.command()
@friendly_errors
def finetune(
    task: str = typer.Option(..., "--task", help="funcimg (image -> OTS) or formula (formula string -> OTS)."),
    from_dir: Path = typer.Option(..., "--from", help="Pre-training run directory."),
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
    epochs: int | None = typer.Option(None, help="Override train.finetune_epochs (when no step count is set)."),
    steps: int | None = typer.Option(None, help="Optimizer steps (the paper: 25000); overrides train.finetune_steps."),
    nodes: list[int] | None = typer.Option(None, "--nodes", help="Fine-tune on trees of this node count only "
                                           "(repeatable; the paper runs 5, 6, 7, 8, 9 separately)."),
    freeze_image_encoder: bool | None = typer.Option(None, "--freeze-image-encoder/--train-image-encoder",
                                                     help="Keep the function-image encoder fixed (train only the "
                                                          "OTS decoder) or train it too. Default: "
                                                          "train.freeze_image_encoder (false: trained)."),
    device: str | None = typer.Option(None, "--device", help=DEVICE_HELP + " Default: train.device (auto)."),
    cache_dir: Path | None = typer.Option(None, help=CACHE_HELP),
    force: bool = typer.Option(False, "--force", help="Write into OUT even when it holds something else."),
) -> None:
    """Fine-tune for one task: the OTS decoder, and the image encoder unless --freeze-image-encoder."""
    from formulaforge.training.botfip.finetune import TASKS
    from formulaforge.training.botfip.finetune import finetune as run

    if task not in TASKS:
        raise UserError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    _claim(out, "botfip-finetune", force)
    with _progress() as progress:
        summary = run(from_dir, out, task, cache_dir=_cache(cache_dir), epochs=epochs, steps=steps,
                      nodes=nodes or None, freeze_image_encoder=freeze_image_encoder, device=device,
                      progress=progress)
    typer.echo(json.dumps(summary, indent=1))


@app.command("eval")
@friendly_errors
def eval_(
    run_dir: Path = typer.Argument(..., help="Fine-tuned run directory."),
    samples: int | None = typer.Option(None, help="Validation samples (default data.eval_samples)."),
    sr_samples: int | None = typer.Option(None, help="Functions in the SR comparison (default eval.sr_samples)."),
    beam: int | None = typer.Option(None, help="Beam size (1 = greedy)."),
    no_gplearn: bool = typer.Option(False, "--no-gplearn", help="Skip the gplearn baseline."),
    decoding: str | None = typer.Option(None, "--decoding", help="constrained (OTS grammar: Acc_r = 1 by "
                                        "construction), free (the paper's Acc_r) or both. Default: eval.decoding."),
    s_rl_norm: str | None = typer.Option(None, "--s-rl-norm", help="S_RL denominator: target (paper eq. 11) or "
                                         "max (the earlier Botfip code). Default: eval.s_rl_norm (target)."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Skip the most-frequent / medoid / "
                                      "nearest-neighbour / linear baselines."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    cache_dir: Path | None = typer.Option(None, help=CACHE_HELP),
) -> None:
    """Acc_r / S_RL / S~_RL per node count, baselines on the same samples, the SR comparison; writes RUN_DIR/metrics.json."""
    from formulaforge.evaluation.botfip import evaluate_run

    with _progress() as progress:
        m = evaluate_run(run_dir, cache_dir=_cache(cache_dir), samples=samples, sr_samples=sr_samples,
                         gplearn=False if no_gplearn else None, beam_size=beam, decoding=decoding,
                         s_rl_norm=s_rl_norm, baselines=False if no_baselines else None, device=device,
                         progress=progress)
    sr = m["sr_comparison"]["overall"]
    keep = ("acc_r", "s_rl", "s_rl_formula")
    typer.echo(json.dumps({"s_rl_norm": m["s_rl_norm"],
                           "decoding": {k: {kk: v[kk] for kk in keep} for k, v in m["decoding"].items()},
                           "baselines": {k: {kk: v[kk] for kk in keep} for k, v in (m.get("baselines") or {}).items()},
                           "sr": {k: {kk: v[kk] for kk in ("mse_median", "r2_median", "r2_solved_rate")}
                                  for k, v in sr.items()}}, indent=1))
    typer.echo(f"wrote {run_dir / 'metrics.json'}")


@app.command()
@friendly_errors
def predict(
    run_dir: Path = typer.Argument(..., help="Fine-tuned run directory."),
    points: Path | None = typer.Option(None, "--points", help="Measurements: CSV with columns x0, x1, y, or an "
                                       "(N, 3) .npy (funcimg runs)."),
    image: Path | None = typer.Option(None, "--image", help="A rendered function image: 2-D .npy of values or "
                                      "grayscale .png, rows = x0, columns = x1, covering [-extent, extent]^2."),
    extent: float = typer.Option(1.0, "--extent", help="Half-width of the area --image covers."),
    function: str | None = typer.Option(None, "--function", help="A numeric function of x0, x1 (funcimg runs), "
                                        "e.g. '1.5*sin(x0 + x1) - 0.3'."),
    formula: str | None = typer.Option(None, "--formula", help="A formula string (formula runs), e.g. 'C0*sin(x0) + C1'."),
    top_k: int = typer.Option(3, "--top-k", help="Skeletons to return (beam search), each with fitted constants."),
    beam: int = typer.Option(1, help="Beam size (at least --top-k is used)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    cache_dir: Path | None = typer.Option(None, help=CACHE_HELP),
) -> None:
    """Points, an image or a function -> top-k skeletons with L-BFGS constants, R^2, LaTeX and sympy; or a formula string -> OTS."""
    import numpy as np

    from formulaforge.models.botfip.predict import BotfipPredictor

    given = [x for x in (points, image, function, formula) if x is not None]
    if len(given) != 1:
        raise UserError("give exactly one of --points, --image, --function or --formula")
    if top_k < 1:
        raise UserError("--top-k must be at least 1")
    predictor = BotfipPredictor.from_run(run_dir, device=device, beam_size=beam)
    if formula is None:
        from formulaforge.datasets.optrees.resample import read_image, read_points

        predictor.check_task("funcimg")
        if points is not None:
            x0, x1, y = read_points(points)
        elif image is not None:
            x0, x1, y = read_image(image, extent)
        else:
            x0, x1, y = _function_points(str(function), predictor.grid)
        result = predictor.predict_points(x0, x1, y, top_k=top_k)
    else:
        from formulaforge.datasets.optrees.ots import decode
        from formulaforge.datasets.optrees.symbolic import formula_strings
        from formulaforge.training.botfip.data import TeacherFeatures, build_teacher

        predictor.check_task("formula")
        teacher = build_teacher(predictor.cfg)
        if teacher is None:
            raise UserError("this run has no teacher; --formula needs one")
        hidden, mask = TeacherFeatures(teacher, _cache(cache_dir))([formula])
        ots = predictor.ots_from_teacher_states(hidden, mask)[0]
        fs = formula_strings(decode(ots))
        result = {"ots": ots, "formula": fs.sympy, "latex": fs.latex}
    typer.echo(json.dumps(result, indent=1, default=lambda o: np.asarray(o).tolist()))


def _function_points(function: str, grid):
    """The function's values on the model's grid pixels, as points."""
    import numpy as np
    import sympy as sp

    from formulaforge.datasets.optrees.symbolic import parse_formula

    expr = parse_formula(function)
    if any(s.name.startswith("C") for s in expr.free_symbols):
        raise UserError("--function must be numeric (no C_i constants); use --formula for skeleton strings")
    x0s, x1s = sp.Symbol("x0", real=True), sp.Symbol("x1", real=True)
    fn = sp.lambdify([x0s, x1s], expr.subs({s: sp.Symbol(s.name, real=True) for s in expr.free_symbols}), "numpy")
    x0, x1 = (a.astype(np.float64).ravel() for a in grid.inputs)
    with np.errstate(all="ignore"):
        y = np.broadcast_to(np.asarray(fn(x0, x1), dtype=np.float64), x0.shape)
    ok = np.isfinite(y)
    if ok.sum() < 4:
        raise UserError("--function is undefined almost everywhere on the grid")
    return x0[ok], x1[ok], y[ok]
