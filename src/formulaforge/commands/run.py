"""``formulaforge run CONFIG``: the whole pipeline from a YAML recipe."""

from __future__ import annotations

from pathlib import Path

import typer

from formulaforge.commands._common import UserError, friendly_errors


@friendly_errors
def run_command(
    config: Path = typer.Argument(..., help="A YAML recipe, e.g. configs/demo.yaml."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and print the plan; load no weights."),
    out: Path | None = typer.Option(None, "--out", help="Override the recipe's run directory."),
    set_: list[str] = typer.Option([], "--set", help="Override a setting, e.g. --set msft.r2=256 (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Write into the run folder even when it holds something else."),
) -> None:
    """Build data, train each MSFT stage, evaluate after each, and write the report (resumable)."""
    from pydantic import ValidationError

    from formulaforge.pipeline.config import load_config
    from formulaforge.pipeline.run import dry_run as plan_only
    from formulaforge.pipeline.run import run

    cfg = load_config(config, set_)
    if out is not None:
        try:
            cfg.out = str(out)
        except ValidationError as exc:
            raise UserError(f"--out {out}: {exc.errors()[0]['msg']}") from None
    if dry_run:
        plan_only(cfg, typer.echo)
        return
    result = run(cfg, typer.echo, force=force)
    report = Path(result["run_dir"]) / "report" / "report.md"
    if report.exists():
        text = report.read_text(encoding="utf-8")
        table = text.split("### ")[1] if "### " in text else text
        typer.echo("\n### " + table.split("\n\n", 3)[0] + "\n\n" + "\n".join(
            line for line in table.splitlines() if line.startswith("|") and "reported, not re-run" not in line))
        typer.echo(f"\nreport: {report}")
    typer.echo("step timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in result["timings"].items()))
