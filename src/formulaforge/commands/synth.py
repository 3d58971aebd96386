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
    force: bool = typer.Option(False, "--force", help="Replace OUT even when it holds something else."),
) -> None:
    """Generate TASK problems, deduplicate, split leak-free, and write them to --out."""
    from rich.progress import Progress

    from formulaforge.datasets.synthetic import TASKS
    from formulaforge.datasets.synthetic.pipeline import SYNTH_KIND, finalize, generate_records, write_dataset
    from formulaforge.utils.atomic import check_output

    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    check_output(out, SYNTH_KIND, force=force, replaces=True)  # before any work
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
    manifest = write_dataset(out, result, splits, settings, force=force)
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

    if out is not None and out.is_dir():
        raise UserError(f"--out {out} is a folder; name the report file")
    recs: dict[Any, dict[str, Any]] = {}
    for i, row in enumerate(read_jsonl(records), 1):
        if "id" not in row or "verifier" not in row or "answer_srepr" not in row:
            raise UserError(f"{records}: rows need id, verifier and answer_srepr (made by 'synth generate')")
        if row["id"] in recs:
            raise UserError(f"{records}: row {i} repeats id {row['id']!r}; ids must be unique")
        recs[row["id"]] = row
    preds = list(read_jsonl(predictions))
    first: dict[Any, int] = {}
    for i, p in enumerate(preds, 1):
        if "id" not in p or "output" not in p:
            raise UserError(f"{predictions}: row {i} needs 'id' and 'output'")
        for key in ("output", "prompt"):
            if key in p and not isinstance(p[key], str) and not (key == "prompt" and p[key] is None):
                raise UserError(f"{predictions}: row {i}: {key!r} must be a string, got {type(p[key]).__name__}")
        if not isinstance(p["id"], (str, int)) or isinstance(p["id"], bool):
            raise UserError(f"{predictions}: row {i}: 'id' must be a string or an integer")
        if p["id"] in first:  # refused, not deduplicated: which of two answers counts is the user's call
            raise UserError(f"{predictions}: row {i} repeats id {p['id']!r} (first at row {first[p['id']]}); "
                            "give one prediction per id")
        first[p["id"]] = i
    config = CheckerConfig(budget_s=budget, workers=workers)
    with AnswerChecker(config) as checker, Progress(transient=True) as bar:
        job = bar.add_task("checking", total=len(preds))
        report = checker.check(recs, preds, progress=lambda k: bar.advance(job, k))
    if out is not None:  # first: nothing after the checking may lose its work
        write_json_atomic(out, report)
    summary = report["summary"]
    lines = [f"overall: accuracy {summary['accuracy']:.3f} {summary['accuracy_ci95']} "
             f"no_answer {summary['no_answer']:.3f} (n={summary['n']})"]
    for task, s in summary["per_task"].items():
        lines.append(f"  {task}: accuracy {s['accuracy']:.3f} {s['accuracy_ci95']} "
                     f"no_answer {s['no_answer']:.3f} (n={s['n']})")
    typer.echo("\n".join(lines))
    if out is not None:
        typer.echo(f"wrote {out}")


@app.command("train")
@friendly_errors
def train(
    config: Path = typer.Option(..., "--config", help="Curriculum YAML, e.g. configs/synth/curriculum.yaml"),
    data: list[Path] = typer.Option(..., "--data", help="A 'synth generate' folder; repeat once per task."),
    out: Path = typer.Option(..., "--out", help="Run folder (re-running skips finished phases)."),
    model: str | None = typer.Option(None, "--model", help="Override the config's model (HF id, path, smollm2-135m)."),
    schedule: str | None = typer.Option(None, "--schedule", help="Override: sequential | mixed."),
    order: str | None = typer.Option(None, "--order", help="Override the task order, e.g. addition,roots"),
    steps: int | None = typer.Option(None, "--steps", help="Override steps per phase."),
    force: bool = typer.Option(False, "--force", help="Write into OUT even when it holds something else."),
) -> None:
    """Fine-tune on synthetic math, one phase per task in order (each from the previous adapter) or mixed."""
    from rich.console import Console

    from formulaforge.training.recipe import PlanError
    from formulaforge.training.synth_curriculum import CurriculumConfig, run_curriculum
    from formulaforge.utils.atomic import claim_output

    console = Console(stderr=True)
    if not config.is_file():
        raise UserError(f"config file not found: {config}")
    try:
        from formulaforge.utils.config_text import load_yaml

        raw = load_yaml(config.read_text(encoding="utf-8"), str(config)) or {}
        if not isinstance(raw, dict):
            raise UserError(f"{config}: expected a mapping")
        overrides = {"model": model, "schedule": schedule,
                     "order": [t.strip() for t in order.split(",") if t.strip()] if order else None}
        raw.update({k: v for k, v in overrides.items() if v is not None})
        if steps is not None:
            raw["budget"] = {**(raw.get("budget") or {}), "steps": steps}
            raw["phases"] = {k: {kk: vv for kk, vv in (v or {}).items() if kk != "steps"}
                             for k, v in (raw.get("phases") or {}).items()}
        cfg = CurriculumConfig.from_dict(raw)
        claim_output(out, "synth-run", force=force)
        meta = run_curriculum(cfg, list(data), out, progress=console.print)
    except PlanError as exc:
        raise UserError(str(exc)) from None
    for p in meta["phases"]:
        loss = p.get("train_loss")
        console.print(f"phase {p['phase']} {p['name']}: {p['steps']} steps on {p['n_train']} examples, "
                      f"train loss {loss:.4f}" if loss is not None else f"phase {p['phase']} {p['name']}: done")
    console.print(f"[green]final adapter[/]: {meta['final_run']}")


@app.command("eval")
@friendly_errors
def eval_(
    data: list[Path] = typer.Option(..., "--data", help="A 'synth generate' folder; repeat once per task."),
    out: Path = typer.Option(..., "--out", help="Folder for records, predictions, checker reports, summary."),
    run: Path | None = typer.Option(None, "--run", help="A 'synth train' folder (or MSFT run) to compare."),
    model: str | None = typer.Option(None, "--model", help="Base model (default: the run's, else smollm2-135m)."),
    base: bool = typer.Option(True, "--base/--no-base", help="Also evaluate the base model."),
    split: str = typer.Option("test", "--split"),
    n: int | None = typer.Option(None, "--n", help="Problems per task, seeded sample (default: the run's config)."),
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", help="Default: the run's config."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Default: the run's config."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (default: the run's config)."),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(1, "--workers", help="Checker worker processes."),
    force: bool = typer.Option(False, "--force", help="Write into OUT even when it holds something else."),
) -> None:
    """Generate answers on a test split with the base and the fine-tuned model; grade both with the checker."""
    from rich.console import Console

    from formulaforge.evaluation.synth_eval import EvalRequest, evaluate
    from formulaforge.training.synth_curriculum import EvalSettings, final_run, run_config
    from formulaforge.utils.atomic import claim_output

    console = Console(stderr=True)
    adapter = None
    defaults: dict[str, Any] = {**EvalSettings().__dict__, "threads": None}
    if run is not None:
        try:
            adapter = final_run(run)
        except (FileNotFoundError, ValueError) as exc:
            raise UserError(str(exc)) from None
        if model is None:
            model = json.loads((adapter / "msft.json").read_text(encoding="utf-8"))["base_model"]
        cfg = run_config(run)
        if cfg is not None:
            defaults.update(cfg.eval.__dict__, threads=cfg.threads)
    n = n if n is not None else defaults["n_per_task"]
    threads = threads if threads is not None else defaults["threads"]
    if n < 1:
        raise UserError("--n must be >= 1")
    claim_output(out, "synth-eval", force=force)
    if threads:
        import torch

        torch.set_num_threads(threads)
    req = EvalRequest(model=model or "smollm2-135m", data_dirs=list(data), out=out, run=adapter, base=base,
                      split=split, n_per_task=n,
                      max_new_tokens=max_new_tokens if max_new_tokens is not None else defaults["max_new_tokens"],
                      batch_size=batch_size if batch_size is not None else defaults["batch_size"], seed=seed,
                      checker_workers=workers)
    try:
        summary = evaluate(req, progress=console.print)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    typer.echo(json.dumps({k: {kk: v[kk] for kk in ("accuracy", "accuracy_ci95", "no_answer", "n")}
                           for k, v in summary["models"].items()}, indent=2))
    console.print(f"wrote {out / 'summary.json'}")
