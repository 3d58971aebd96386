"""``formulaforge report``: every table, plot and page for one or more runs, written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formulaforge.evaluation.report.case_study import case_study_html
from formulaforge.evaluation.report.layout import read_rows
from formulaforge.evaluation.report.plots import loss_curves
from formulaforge.evaluation.report.tables import Table, ablation_tables, formula_aware_table, table1
from formulaforge.utils.atomic import check_output, claim_output, write_json_atomic, write_text_atomic
from formulaforge.utils.jsonl import read_jsonl


def _contexts(run_dir: Path) -> dict[str, str]:
    """Test-split inputs by id, for the case-study page (stage I test file of the run)."""
    path = run_dir / "stages" / "stage1" / "test.jsonl"
    return {r["id"]: r["input"] for r in read_jsonl(path)} if path.exists() else {}


REPORT_KIND = "report"  # marker kind of a report folder (utils.atomic)


def build_report(run_dirs: Sequence[str | Path], out_dir: str | Path, katex_dir: Path | None = None, *,
                 force: bool = False) -> dict[str, Any]:
    """Write the report into ``out_dir`` (absent, empty or an earlier report unless ``force``)."""
    out = Path(out_dir)
    check_output(out, REPORT_KIND, force=force)
    runs = {Path(d).name: read_rows(d) for d in run_dirs}
    missing = [name for name, rows in runs.items() if not rows]
    if len(missing) == len(runs):
        raise ValueError(f"no evaluated rows found under {', '.join(str(d) for d in run_dirs)} (expected eval/*/metrics.json)")
    claim_output(out, REPORT_KIND, force=force)
    all_rows = [r for rows in runs.values() for r in rows]
    tables: list[Table] = [table1(all_rows), formula_aware_table(all_rows), *ablation_tables(runs)]
    md = "# FormulaForge report\n\n" + "\n".join(t.markdown() for t in tables)
    files: dict[str, str] = {}
    for run_name, rows in runs.items():
        if not rows:
            continue
        png = loss_curves(rows[0].run_dir, out / f"loss_{run_name}.png")
        if png:
            files[f"loss_{run_name}"] = str(png)
            md += f"\n![loss curves {run_name}](loss_{run_name}.png)\n"
        page = case_study_html(rows, _contexts(rows[0].run_dir), katex_dir=katex_dir)
        write_text_atomic(out / f"case_study_{run_name}.html", page)
        files[f"case_study_{run_name}"] = str(out / f"case_study_{run_name}.html")
    write_text_atomic(out / "report.md", md)
    for i, t in enumerate(tables):
        write_text_atomic(out / f"table_{i + 1}.csv", t.csv())
    write_json_atomic(out / "report.json", {"tables": [t.as_dict() for t in tables], "files": files,
                                            "runs_without_eval": missing})
    files.update(markdown=str(out / "report.md"), json=str(out / "report.json"))
    return {"tables": tables, "files": files, "markdown": md}
