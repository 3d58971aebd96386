"""``formulaforge synth``: generate verified synthetic math problems and grade model outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from formulaforge.commands._common import UserError, friendly_errors

app = typer.Typer(help="Verified synthetic math: generate problems, check model answers.",
                  no_args_is_help=True)


def _parse_options(option: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in option:
        if "=" not in item:
            raise UserError(f"--option expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


@app.command("generate")
@friendly_errors
def generate(
    task: str = typer.Argument(..., help="addition | roots | derivatives | integrals | derivations"),
    n: int = typer.Option(1000, "--n", help="Problems to generate (before dedup); ignored with --grid."),
    out: Path = typer.Option(..., "--out", help="Output folder: train/valid/test.jsonl + manifest.json"),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(1, "--workers", help="Processes to generate with."),
    valid_fraction: float = typer.Option(0.1, "--valid-fraction"),
    test_fraction: float = typer.Option(0.1, "--test-fraction"),
    grid: bool = typer.Option(False, "--grid", help="addition: every a+b with 0 <= a, b <= grid_max."),
    option: list[str] = typer.Option([], "--option", "-o",
                                     help="Generator setting KEY=VALUE (JSON value), e.g. -o max_digits=8"),
) -> None:
    """Generate TASK problems, deduplicate, split leak-free, and write them to --out."""
    from rich.progress import Progress

    from formulaforge.datasets.synthetic import TASKS
    from formulaforge.datasets.synthetic.pipeline import finalize, generate_records, write_dataset

    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    options = _parse_options(option)
    if grid:
        if task != "addition":
            raise UserError("--grid is only for the addition task")
        options.setdefault("grid_max", 1000)
        n = 0
    elif n <= 0:
        raise UserError("--n must be positive")
    try:
        with Progress(transient=True) as bar:
            total = (options["grid_max"] + 1) ** 2 if grid else n
            job = bar.add_task(f"generating {task}", total=total)
            result = generate_records(task, n, seed, workers=workers, options=options,
                                      progress=lambda k: bar.advance(job, k))
    except TypeError as exc:
        raise UserError(f"bad --option for {task}: {exc}") from None
    splits = finalize(result.records, valid_fraction, test_fraction)
    settings = {"seed": seed, "workers": workers, "options": options, "valid_fraction": valid_fraction,
                "test_fraction": test_fraction}
    manifest = write_dataset(out, result, splits, settings)
    typer.echo(json.dumps(manifest, indent=2))


@app.command("check")
@friendly_errors
def check(
    records: Path = typer.Argument(..., help="Records JSONL (from synth generate)."),
    predictions: Path = typer.Option(..., "--predictions", help="JSONL rows {id, output[, prompt]}"),
    out: Path | None = typer.Option(None, "--out", help="Write the full JSON report here."),
    workers: int = typer.Option(1, "--workers", help="Checker worker processes."),
    budget: float = typer.Option(5.0, "--budget", help="Seconds per answer before it counts as a timeout."),
) -> None:
    """Grade raw model outputs: overall and per-task accuracy, no-answer share, per-row verdicts."""
    from rich.progress import Progress

    from formulaforge.evaluation.answers import AnswerChecker, CheckerConfig
    from formulaforge.utils.atomic import write_json_atomic
    from formulaforge.utils.jsonl import read_jsonl

    recs = {}
    for row in read_jsonl(records):
        if "id" not in row or "verifier" not in row or "answer_srepr" not in row:
            raise UserError(f"{records}: rows need id, verifier and answer_srepr (made by 'synth generate')")
        recs[row["id"]] = row
    preds = list(read_jsonl(predictions))
    for i, p in enumerate(preds, 1):
        if "id" not in p or "output" not in p:
            raise UserError(f"{predictions}: row {i} needs 'id' and 'output'")
    config = CheckerConfig(budget_s=budget, workers=workers)
    with AnswerChecker(config) as checker, Progress(transient=True) as bar:
        job = bar.add_task("checking", total=len(preds))
        report = checker.check(recs, preds, progress=lambda k: bar.advance(job, k))
    summary = report["summary"]
    lines = [f"overall: accuracy {summary['accuracy']:.3f} {summary['accuracy_ci95']} "
             f"no_answer {summary['no_answer']:.3f} (n={summary['n']})"]
    for task, s in summary["per_task"].items():
        lines.append(f"  {task}: accuracy {s['accuracy']:.3f} {s['accuracy_ci95']} "
                     f"no_answer {s['no_answer']:.3f} (n={s['n']})")
    typer.echo("\n".join(lines))
    if out is not None:
        write_json_atomic(out, report)
        typer.echo(f"wrote {out}")
