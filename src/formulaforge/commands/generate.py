"""``formulaforge generate``: the continuation of one prompt, from a base, MSFT or PEFT model."""

from __future__ import annotations

from pathlib import Path

import typer

from formulaforge.commands._common import UserError, friendly_errors


@friendly_errors
def generate(
    model: str = typer.Option(..., "--model", help="HF id, local path, or 'smollm2-135m'."),
    stages: Path | None = typer.Option(None, "--stages", help="MSFT run folder to compose onto the model."),
    adapter: Path | None = typer.Option(None, "--adapter", help="A PEFT adapter folder (e.g. an export)."),
    prompt: str | None = typer.Option(None, "--prompt", help="The user message (chat template applied)."),
    before: str | None = typer.Option(None, "--before", help="Context before the formula (stage-I prompt)."),
    after: str | None = typer.Option(None, "--after", help="Context after the formula (with --before)."),
    data: Path | None = typer.Option(None, "--data", help="STAGES_DIR whose template/clipping --before uses "
                                     "(default: the run's own, RUN/stages next to RUN/train/stageN)."),
    greedy: bool = typer.Option(False, "--greedy", help="Greedy decoding instead of sampling."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1),
    upto: int | None = typer.Option(None, "--upto", min=1, max=3, help="Use only stages <= N of --stages."),
    gate: str = typer.Option("on", "--gate", help="on | off | auto (router: LaTeX math in the prompt)."),
    raw: bool = typer.Option(False, "--raw", help="Do not apply the prompt template."),
    seed: int | None = typer.Option(None, "--seed"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code"),
) -> None:
    """Print the continuation only."""
    from formulaforge.models.generation import generate_continuations
    from formulaforge.models.inference import load_for_inference

    if stages is not None and adapter is not None:
        raise UserError("give --stages or --adapter, not both")
    if (prompt is None) == (before is None):
        raise UserError("give --prompt TEXT, or --before TEXT [--after TEXT] for the stage-I formula prompt")
    if after is not None and before is None:
        raise UserError("--after needs --before")
    if before is not None:
        from formulaforge.datasets.stages import stage1_message

        # the pipeline layout: RUN/train/stageN next to RUN/stages
        beside = stages.parent.parent / "stages" if stages is not None else None
        if data is None and beside is not None and (beside / "manifest.json").is_file():
            data = beside
        prompt = stage1_message(before, after or "", data)
    if gate not in ("on", "off", "auto"):
        raise UserError("--gate must be on, off or auto")
    loaded = load_for_inference(model, stages=stages, adapter=adapter, upto=upto, trust_remote_code=trust_remote_code)
    net, tok = loaded.model, loaded.tokenizer
    if loaded.msft is not None and gate != "on":
        from formulaforge.models.msft.router import is_formula_request

        loaded.msft.set_gate([gate == "auto" and is_formula_request(prompt)])
    assert prompt is not None
    text = generate_continuations(net, tok, [prompt], greedy=greedy, max_new_tokens=max_new_tokens, render=not raw,
                                  seed=seed)[0]
    typer.echo(text)
