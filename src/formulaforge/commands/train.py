"""``formulaforge train``: one MSFT stage (LoRA, D-plugin or Q-plugin) on stage data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from formulaforge.commands._common import UserError, friendly_errors


def _read_config(path: Path) -> dict[str, Any]:
    from formulaforge.utils.config_text import load_json, load_yaml

    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    data = load_yaml(text, str(path)) if path.suffix in (".yaml", ".yml") else load_json(text, str(path))
    if not isinstance(data, dict) or not set(data) <= {"msft", "training"}:
        raise UserError(f"{path}: expected a mapping with 'msft' and/or 'training' sections")
    return data


@friendly_errors
def train(
    stage: int = typer.Option(..., "--stage", min=1, max=3, help="1 = LoRA, 2 = D-plugin, 3 = Q-plugin."),
    model: str = typer.Option(..., "--model", help="HF id, local path, or 'smollm2-135m' (packaged)."),
    data: Path = typer.Option(..., "--data", help="STAGES_DIR with stageN/{train,valid,test}.jsonl."),
    out: Path = typer.Option(..., "--out", help="Run folder to write (re-running with the same settings resumes)."),
    from_run: Path | None = typer.Option(None, "--from", help="Run folder of the previous stage."),
    mode: str | None = typer.Option(None, "--mode", help="paper (eq. 1 as written) or residual (keeps stage I)."),
    joint: bool = typer.Option(False, "--joint", help="Ablation: re-train earlier stages too (paper Table 3)."),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="Ablation: insert and train all modules at once."),
    config: Path | None = typer.Option(None, "--config", help="YAML/JSON with 'msft' and 'training' sections."),
    epochs: float | None = typer.Option(None, "--epochs", help="Default 10 / 10 / 20 for stages 1 / 2 / 3."),
    max_steps: int = typer.Option(-1, "--max-steps", help="Stop after N optimizer steps (overrides --epochs)."),
    batch_size: int | None = typer.Option(None, "--batch-size"),
    grad_accum: int | None = typer.Option(None, "--grad-accum"),
    lr: float | None = typer.Option(None, "--lr"),
    targets: str | None = typer.Option(None, "--targets", help="Comma list of projection names (default: by arch)."),
    r2: int | None = typer.Option(None, "--r2", help="D-plugin width (640 = the parameter-matched control)."),
    load_in_4bit: bool = typer.Option(False, "--load-in-4bit", help="QLoRA: 4-bit base (GPU + bitsandbytes)."),
    seed: int = typer.Option(42, "--seed"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code"),
    restart: bool = typer.Option(False, "--restart", help="Discard OUT's checkpoints and train from scratch."),
    force: bool = typer.Option(False, "--force", help="Write into OUT even when it holds something else."),
) -> None:
    """Train one MSFT stage; earlier stages stay frozen unless --joint."""
    from rich.console import Console

    from formulaforge.models.msft.config import MSFTConfig
    from formulaforge.training.recipe import PlanError, TrainSettings, plan, train_stage

    console = Console(stderr=True)
    cfg_file = _read_config(config) if config else {}
    msft_dict = dict(cfg_file.get("msft") or {})
    if targets:
        msft_dict["targets"] = [t.strip() for t in targets.split(",") if t.strip()]
    if r2 is not None:
        msft_dict["r2"] = r2
    if mode is not None and mode not in ("paper", "residual"):
        raise UserError(f"--mode must be 'paper' or 'residual', got {mode!r}")
    training = dict(cfg_file.get("training") or {})
    overrides = {"epochs": epochs, "batch_size": batch_size, "grad_accum": grad_accum, "lr": lr}
    training.update({k: v for k, v in overrides.items() if v is not None})
    allowed = set(TrainSettings.__dataclass_fields__) - {"stage", "model", "data", "out", "from_run", "msft"}
    unknown = sorted(set(training) - allowed)
    if unknown:
        raise UserError(f"unknown training setting(s): {', '.join(unknown)}")
    try:
        settings = TrainSettings(
            stage=stage, model=model, data=data, out=out, from_run=from_run, mode=mode, joint=joint,
            from_scratch=from_scratch, max_steps=max_steps, load_in_4bit=load_in_4bit, seed=seed,
            trust_remote_code=trust_remote_code, msft=MSFTConfig.from_dict(msft_dict), restart=restart,
            force=force, **training,
        )
        plan(settings)
        result = train_stage(settings, progress=console.print)
    except PlanError as exc:
        raise UserError(str(exc)) from None
    t = result["training"]
    console.print(f"[green]stage {stage} done[/]: {t['steps']} steps, trained stages {t['trained_stages']}, "
                  f"{t['trainable_params']:,} trainable params -> {out}")
    loss = result["metrics"].get("eval_loss")
    if loss is not None:
        console.print(f"valid loss {loss:.4f}")
