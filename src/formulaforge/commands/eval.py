"""``formulaforge eval``: generate formulas for a stage split and score them, n runs."""

from __future__ import annotations

from pathlib import Path

import typer

from formulaforge.commands._common import UserError, friendly_errors


@friendly_errors
def eval_command(
    model: str = typer.Option(..., "--model", help="HF id, local path, merged export, or 'smollm2-135m'."),
    data: Path = typer.Option(..., "--data", help="A stage folder with train/valid/test.jsonl, e.g. STAGES/stage1."),
    out: Path = typer.Option(..., "--out", help="Writes predictions.jsonl and metrics.json here."),
    stages: Path | None = typer.Option(None, "--stages", help="MSFT run folder to compose onto the model."),
    adapter: Path | None = typer.Option(None, "--adapter", help="A PEFT adapter folder."),
    upto: int | None = typer.Option(None, "--upto", min=1, max=3, help="Use only stages <= N of --stages."),
    split: str = typer.Option("test", "--split", help="train, valid or test."),
    runs: int = typer.Option(5, "--runs", min=1, help="Sampling runs (seeds seed..seed+runs-1)."),
    greedy: bool = typer.Option(False, "--greedy", help="Greedy decoding (one run)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Evaluate the first N samples."),
    max_new_tokens: int = typer.Option(384, "--max-new-tokens", min=1),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    few_shot: int = typer.Option(0, "--few-shot", min=0, help="K solved training examples in the prompt."),
    temperature: float = typer.Option(0.7, "--temperature", min=0.01),
    top_p: float = typer.Option(0.9, "--top-p", min=0.01, max=1.0),
    seed: int = typer.Option(0, "--seed"),
    render_metric: bool = typer.Option(True, "--render-metric/--no-render-metric", help="CDM-style rendered metric."),
    metric_workers: int = typer.Option(2, "--metric-workers", min=1,
                                       help="Processes that compute the metrics side by side (>= 500 samples)."),
    metric_mode: str = typer.Option(
        "tokenized", "--metric-mode",
        help="Strings BLEU/sacreBLEU/ROUGE-1/WER/CER score: 'tokenized' (normalized LaTeX tokens, default) or "
             "'mathbridge' (as written, MathBridge's computation, comparable with the literature)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code"),
    force: bool = typer.Option(False, "--force", help="Write into OUT even when it holds something else."),
) -> None:
    """Score a model with BLEU, sacreBLEU, ROUGE-1, WER, CER and the formula-aware metrics."""
    from rich.progress import Progress

    from formulaforge.evaluation.metrics.standard import MODES
    from formulaforge.evaluation.runner import EVAL_KIND, EvalConfig, evaluate, write_eval
    from formulaforge.models.generation import SamplingConfig
    from formulaforge.models.inference import load_for_inference
    from formulaforge.utils.atomic import check_output
    from formulaforge.utils.jsonl import read_jsonl

    if metric_mode not in MODES:
        raise UserError(f"--metric-mode must be {' or '.join(MODES)}, not {metric_mode!r}")
    check_output(out, EVAL_KIND, force=force)  # before loading anything

    split_file = data / f"{split}.jsonl"
    if not split_file.is_file():
        raise UserError(f"no {split} split at {split_file} (give --data STAGES_DIR/stageN)")
    records = list(read_jsonl(split_file))[:limit] if limit else list(read_jsonl(split_file))
    if not records:
        raise UserError(f"{split_file} is empty")
    train = list(read_jsonl(data / "train.jsonl")) if few_shot and (data / "train.jsonl").is_file() else []
    if few_shot and not train:
        raise UserError(f"--few-shot needs {data / 'train.jsonl'}")
    loaded = load_for_inference(model, stages=stages, adapter=adapter, upto=upto, trust_remote_code=trust_remote_code)
    sampling = SamplingConfig(greedy=greedy, temperature=temperature, top_p=top_p,
                              max_new_tokens=max_new_tokens, seed=seed)
    config = EvalConfig(runs=runs, sampling=sampling, batch_size=batch_size, few_shot=few_shot, seed=seed,
                        render_metric=render_metric, metric_workers=metric_workers, metric_mode=metric_mode)
    n_runs = 1 if greedy else runs
    with Progress(transient=True) as progress:
        task = progress.add_task(f"generating ({n_runs} run(s))", total=len(records) * n_runs)
        rows, metrics = evaluate(loaded.model, loaded.tokenizer, records, config, train_records=train,
                                 on_batch=lambda n: progress.advance(task, n))
    metrics["_meta"].update(model=loaded.description, data=str(data), split=split)
    write_eval(out, rows, metrics, force=force)
    for name, m in metrics.items():
        if not name.startswith("_"):
            typer.echo(f"{name:>14}: {m['mean']:.4f} ± {m['std']:.4f}")
    typer.echo(f"(bleu, sacrebleu, rouge1, wer, cer: {metric_mode} mode)")
    typer.echo(f"wrote {out / 'predictions.jsonl'} and {out / 'metrics.json'}")
