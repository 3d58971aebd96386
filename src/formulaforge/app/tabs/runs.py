"""Run: this session's requests (latency, tokens/s, errors), the run's pipeline steps, its
evaluation table and its loss curves."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from formulaforge.app.activity import COLUMNS, Request
from formulaforge.app.context import AppContext


def session_view(ctx: AppContext, session: str | None = None) -> tuple[Any, str]:
    """This browser session's requests (``session=None``: every visitor's, for the Python API)."""
    import pandas as pd

    s = ctx.session.summary(session)
    median = f"{s['median_s']:,.2f} s" if s["median_s"] is not None else "-"
    speed = f" at {s['tokens_per_s']:,.1f} tokens/s overall" if s["tokens_per_s"] is not None else ""
    line = (f"**{s['requests']:,} requests** in this browser session (other visitors' are not shown), "
            f"{s['errors']:,} errors; median {median}; {s['tokens']:,} tokens generated{speed}")
    return pd.DataFrame(ctx.session.rows(session), columns=COLUMNS), line


def run_view(ctx: AppContext) -> tuple[str, np.ndarray | None]:
    """(pipeline steps + evaluation table as markdown, loss curves image)."""
    ws = ctx.workspace
    if ws.run_dir is None:
        return "No run directory open: start the app with `--run RUN_DIR` to see its metrics.", None
    parts = [f"Run directory: `{ws.run_dir.name}` · model `{ws.model_name}` · stages {', '.join(ws.stage_choices())}"]
    manifest = ws.resolve("manifest.json")
    if manifest.is_file():
        steps = json.loads(manifest.read_text(encoding="utf-8")).get("steps", {})
        parts += ["| step | status | seconds |", "|---|---|---|"]
        parts += [f"| {name} | {rec.get('status')} | {_seconds(rec.get('seconds'))} |"
                  for name, rec in steps.items()]
    from formulaforge.evaluation.report.layout import read_rows
    from formulaforge.evaluation.report.tables import formula_aware_table, table1

    rows = read_rows(ws.run_dir)
    if rows:
        parts += ["", table1(rows, with_reported=False).markdown(), formula_aware_table(rows).markdown()]
    else:
        parts.append("\nNo evaluation results yet (`eval/*/metrics.json`).")
    return "\n".join(parts), _loss_image(ws.run_dir)


def _seconds(value: Any) -> str:
    return f"{float(value):,.1f}" if isinstance(value, int | float) else ""


def _loss_image(run_dir: Path) -> np.ndarray | None:
    from PIL import Image

    from formulaforge.evaluation.report.plots import loss_curves

    with tempfile.TemporaryDirectory(prefix="ff-app-") as tmp:
        png = loss_curves(run_dir, Path(tmp) / "loss.png")
        if png is None:
            return None
        with Image.open(png) as im:
            return np.asarray(im.convert("RGB")).copy()


def refresh(ctx: AppContext, *, request: Request) -> tuple[Any, str, str, np.ndarray | None]:
    table, line = session_view(ctx, request.session)
    run_md, loss = run_view(ctx)
    return table, line, run_md, loss


def build(ctx: AppContext) -> tuple[Any, list[Any], list[Any]]:
    """The tab; returns (handler, inputs, outputs) that fill it when it is opened."""
    import gradio as gr

    from formulaforge.app.tabs._bind import bind

    go = gr.Button("Refresh", elem_id="ff-refresh")
    summary = gr.Markdown(elem_id="ff-session-summary")
    log = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, label="This browser session's requests",
                       elem_id="ff-session-log")
    run_md = gr.Markdown(elem_id="ff-run-metrics")
    loss = gr.Image(label="Loss curves per stage", type="numpy", interactive=False)
    outputs = [log, summary, run_md, loss]
    handler = bind(ctx, "run", "refresh", refresh, inline=(4, 1))
    go.click(handler, None, outputs)
    return handler, [], outputs
