"""``formulaforge report RUN_DIR...``: paper-style tables, loss curves and a case-study page."""

from __future__ import annotations

from pathlib import Path

import typer

from formulaforge.commands._common import friendly_errors


@friendly_errors
def report(
    run_dirs: list[Path] = typer.Argument(..., help="One or more run directories (formulaforge run outputs)."),
    out: Path = typer.Option(None, "--out", help="Where to write the report (default: RUN_DIR/report)."),
    katex: Path = typer.Option(None, "--katex", help="A KaTeX dist folder to inline (offline rendering)."),
    force: bool = typer.Option(False, "--force", help="Write into OUT even when it holds something else."),
) -> None:
    """Write Markdown/CSV/JSON tables laid out like the MSFT paper, loss curves and a case study."""
    from formulaforge.evaluation.report.build import build_report

    for d in run_dirs:
        if not d.is_dir():
            raise FileNotFoundError(f"run directory not found: {d}")
    out_dir = out or (run_dirs[0] / "report")
    result = build_report(run_dirs, out_dir, katex_dir=katex, force=force)
    typer.echo(result["tables"][0].markdown())
    typer.echo(f"report: {result['files']['markdown']}")
