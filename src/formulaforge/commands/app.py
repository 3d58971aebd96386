"""``formulaforge app``: the web UI over a run's models and datasets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer

from formulaforge.commands._common import UserError, friendly_errors


@friendly_errors
def app_command(
    run: Path | None = typer.Option(None, "--run", help="A `formulaforge run` folder: its model, stages and data."),
    model: str | None = typer.Option(None, "--model", help="Override the run's model (HF id, path or alias)."),
    synth_run: Path | None = typer.Option(None, "--synth-run",
                                          help="A `synth train` output (or one of its phase runs): math tab."),
    botfip: Path | None = typer.Option(None, "--botfip", help="A `botfip finetune --task funcimg` run."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(7860, "--port", min=1, max=65535),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Cap per generation."),
    timeout: float = typer.Option(120.0, "--timeout", min=1.0, help="Seconds per generation before it stops."),
    queue_size: int = typer.Option(32, "--queue-size", min=1, help="Requests that may wait."),
) -> None:
    """Open the web UI: formula from context, math problems, operation trees, datasets, run metrics."""
    if importlib.util.find_spec("gradio") is None:
        raise UserError("the web UI needs gradio: pip install 'formulaforge[app]'")
    from formulaforge.app.context import AppContext
    from formulaforge.app.limits import AppLimits
    from formulaforge.app.server import launch
    from formulaforge.app.workspace import Workspace

    synth_run = _final_phase(synth_run) if synth_run is not None else None
    for name, path, marker in (("--synth-run", synth_run, "msft.json"), ("--botfip", botfip, None)):
        if path is not None and (not path.is_dir() or (marker and not (path / marker).is_file())):
            raise UserError(f"{name} {path} is not a run folder" + (f" (no {marker})" if marker else ""))
    limits = AppLimits(max_new_tokens=max_new_tokens, generation_timeout_s=timeout, queue_size=queue_size)
    ctx = AppContext(Workspace.open(run, model), limits, botfip_run=botfip, synth_run=synth_run)
    typer.echo(f"FormulaForge app on http://{host}:{port} (Ctrl+C to stop)")
    try:
        launch(ctx, host, port, block=True)
    finally:
        ctx.close()


def _final_phase(path: Path) -> Path:
    """A ``synth train`` output folder names its last phase's MSFT run in ``curriculum.json``."""
    import json

    manifest = path / "curriculum.json"
    if not manifest.is_file():
        return path
    final = json.loads(manifest.read_text(encoding="utf-8")).get("final_run")
    if not final:
        raise UserError(f"{manifest} names no finished phase yet (train first)")
    final_path = Path(final)
    # Written relative to where `synth train` ran; the phases sit inside the output folder.
    return final_path if final_path.is_absolute() else path / "phases" / final_path.name
