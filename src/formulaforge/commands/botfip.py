"""``formulaforge botfip``: pre-train, fine-tune, evaluate and run Botfip-LLM."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from formulaforge.commands._common import UserError, friendly_errors

app = typer.Typer(help="Botfip-LLM: function images / formula strings -> operation trees.", no_args_is_help=True)

CACHE_HELP = "Teacher-feature cache folder (default ~/.cache/formulaforge/botfip-teacher)."


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
    from formulaforge.training.botfip_data import DEFAULT_CACHE

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
    force: bool = typer.Option(False, "--force", help="Write into OUT even when it holds something else."),
) -> None:
    """Pre-train with FOC + FOM + OM + KD (paper eq. 7). Under torchrun, one process per rank."""
    from formulaforge.models.botfip.config import BotfipConfig
    from formulaforge.training.botfip_distributed import dist_info, init_from_env
    from formulaforge.training.botfip_pretrain import pretrain as run

    cfg = BotfipConfig.from_yaml(config)  # also checks that this machine can load the teacher dtype
    _claim(out, "botfip-pretrain", force)
    if no_kd:
        cfg.loss.kd = 0.0
    created = init_from_env()
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
    epochs: int | None = typer.Option(None, help="Override train.finetune_epochs."),
    cache_dir: Path | None = typer.Option(None, help=CACHE_HELP),
    force: bool = typer.Option(False, "--force", help="Write into OUT even when it holds something else."),
) -> None:
    """Fine-tune the OTS decoder for one task."""
    from formulaforge.training.botfip_finetune import TASKS
    from formulaforge.training.botfip_finetune import finetune as run

    if task not in TASKS:
        raise UserError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    _claim(out, "botfip-finetune", force)
    with _progress() as progress:
        summary = run(from_dir, out, task, cache_dir=_cache(cache_dir), epochs=epochs, progress=progress)
    typer.echo(json.dumps(summary, indent=1))


@app.command("eval")
@friendly_errors
def eval_(
    run_dir: Path = typer.Argument(..., help="Fine-tuned run directory."),
    samples: int | None = typer.Option(None, help="Validation samples (default data.eval_samples)."),
    sr_samples: int | None = typer.Option(None, help="Functions in the SR comparison (default eval.sr_samples)."),
    beam: int | None = typer.Option(None, help="Beam size (1 = greedy)."),
    no_gplearn: bool = typer.Option(False, "--no-gplearn", help="Skip the gplearn baseline."),
    cache_dir: Path | None = typer.Option(None, help=CACHE_HELP),
) -> None:
    """Acc_r / S_RL / S~_RL per node count and the SR comparison; writes RUN_DIR/metrics.json."""
    from formulaforge.evaluation.botfip import evaluate_run

    with _progress() as progress:
        m = evaluate_run(run_dir, cache_dir=_cache(cache_dir), samples=samples, sr_samples=sr_samples,
                         gplearn=False if no_gplearn else None, beam_size=beam, progress=progress)
    sr = m["sr_comparison"]["overall"]
    typer.echo(json.dumps({"acc_r": m["acc_r"], "s_rl": m["s_rl"], "s_rl_formula": m["s_rl_formula"],
                           "sr": {k: {kk: v[kk] for kk in ("mse_median", "r2_median", "r2_solved_rate")}
                                  for k, v in sr.items()}}, indent=1))
    typer.echo(f"wrote {run_dir / 'metrics.json'}")


@app.command()
@friendly_errors
def predict(
    run_dir: Path = typer.Argument(..., help="Fine-tuned run directory."),
    function: str | None = typer.Option(None, "--function", help="A numeric function of x0, x1 (funcimg runs), "
                                        "e.g. '1.5*sin(x0 + x1) - 0.3'."),
    formula: str | None = typer.Option(None, "--formula", help="A formula string (formula runs), e.g. 'C0*sin(x0) + C1'."),
    beam: int = typer.Option(1, help="Beam size."),
    cache_dir: Path | None = typer.Option(None, help=CACHE_HELP),
) -> None:
    """Predict the operation tree of a function (image -> OTS -> fitted formula) or of a formula string."""
    import numpy as np
    import torch

    from formulaforge.datasets.optrees.images import DEFAULT_GRID, normalize
    from formulaforge.models.botfip.predict import BotfipPredictor

    if (function is None) == (formula is None):
        raise UserError("give exactly one of --function or --formula")
    predictor = BotfipPredictor.from_run(run_dir, beam_size=beam)
    if function is not None:
        import sympy as sp

        from formulaforge.datasets.optrees.symbolic import parse_formula

        expr = parse_formula(function)
        if any(s.name.startswith("C") for s in expr.free_symbols):
            raise UserError("--function must be numeric (no C_i constants); use --formula for skeleton strings")
        x0, x1 = DEFAULT_GRID.inputs
        fn = sp.lambdify([sp.Symbol("x0", real=True), sp.Symbol("x1", real=True)],
                         expr.subs({s: sp.Symbol(s.name, real=True) for s in expr.free_symbols}), "numpy")
        with np.errstate(all="ignore"):
            raw = np.broadcast_to(np.asarray(fn(x0, x1), dtype=np.float64), x0.shape)
        image, _, _ = normalize(raw[None])
        ots = predictor.ots_from_images(torch.from_numpy(image.astype(np.float32)))[0]
        ok = np.isfinite(raw)
        result = predictor.fit(ots, [x0[ok], x1[ok]], raw[ok])
    else:
        from formulaforge.training.botfip_data import TeacherFeatures, build_teacher

        teacher = build_teacher(predictor.cfg)
        if teacher is None:
            raise UserError("this run has no teacher; --formula needs one")
        hidden, mask = TeacherFeatures(teacher, _cache(cache_dir))([formula])
        ots = predictor.ots_from_teacher_states(hidden, mask)[0]
        from formulaforge.datasets.optrees.ots import decode
        from formulaforge.datasets.optrees.symbolic import formula_strings

        fs = formula_strings(decode(ots))
        result = {"ots": ots, "formula": fs.sympy, "latex": fs.latex}
    typer.echo(json.dumps(result if isinstance(result, dict) else result.to_json(), indent=1))
