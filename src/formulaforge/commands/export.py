"""``formulaforge export lora|merged``: an MSFT run as a plain PEFT LoRA or a merged checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from formulaforge.commands._common import UserError, friendly_errors

app = typer.Typer(help="Export an MSFT run (folded PEFT LoRA, or merged weights).", no_args_is_help=True)


def _load(run_dir: Path, model: str | None, upto: int | None):
    from formulaforge.models.loading import load_model, load_tokenizer, resolve_model
    from formulaforge.models.msft.io import load_run, read_meta

    meta = read_meta(run_dir)
    spec = model or meta["base_model"]
    try:
        src = resolve_model(spec)
    except FileNotFoundError as exc:
        raise UserError(f"{exc}; the run's base model moved? pass --model") from None
    net = load_model(src, dtype=__import__("torch").float32)
    adapter = load_run(net, run_dir, upto=upto)
    return adapter, src, lambda: load_tokenizer(src)


@app.command("lora")
@friendly_errors
def export_lora_cmd(
    run_dir: Path = typer.Argument(..., help="MSFT run folder."),
    out: Path = typer.Option(..., "--out", help="Folder for adapter_config.json + adapter_model.safetensors."),
    model: str | None = typer.Option(None, "--model", help="Base model (default: the one in msft.json)."),
    upto: int | None = typer.Option(None, "--upto", min=1, max=3),
    force: bool = typer.Option(False, "--force", help="Replace OUT even when it holds something else."),
) -> None:
    """Fold all stages into one exactly equivalent rank-r1 PEFT LoRA (B' = L_up M, A = L_down)."""
    from formulaforge.models.msft.io import LORA_EXPORT_KIND, export_lora
    from formulaforge.utils.atomic import check_output

    check_output(out, LORA_EXPORT_KIND, force=force, replaces=True)  # before loading anything
    adapter, src, _ = _load(run_dir, model, upto)
    export_lora(adapter, out, src.hub_name(), force=force)
    typer.echo(f"folded stages {list(adapter.stages)} into a rank-{adapter.config.r1} PEFT LoRA -> {out}")


@app.command("merged")
@friendly_errors
def export_merged_cmd(
    run_dir: Path = typer.Argument(..., help="MSFT run folder."),
    out: Path = typer.Option(..., "--out", help="Folder for the merged Hugging Face checkpoint."),
    model: str | None = typer.Option(None, "--model", help="Base model (default: the one in msft.json)."),
    upto: int | None = typer.Option(None, "--upto", min=1, max=3),
    force: bool = typer.Option(False, "--force", help="Replace OUT even when it holds something else."),
) -> None:
    """Merge all stages into the base weights; the folder is a plain --model path."""
    from formulaforge.models.msft.merge import MERGED_KIND, save_merged
    from formulaforge.utils.atomic import check_output

    check_output(out, MERGED_KIND, force=force, replaces=True)  # before loading anything
    adapter, _, tokenizer = _load(run_dir, model, upto)
    stages = list(adapter.stages)
    save_merged(adapter, tokenizer(), out, force=force)
    typer.echo(f"merged stages {stages} into the base weights -> {out}")
