"""Compare: every test item, its label and each evaluated row's prediction side by side,
rendered, with per-item scores; sortable (click a column), filterable, context on demand."""

from __future__ import annotations

from typing import Any

from formulaforge.app.activity import Request
from formulaforge.app.context import AppContext
from formulaforge.app.render import _safe_math, source_block

COLUMNS = ["#", "item", "model row", "label", "prediction", "edit sim.", "sym. equal", "CDM"]
ALL_ROWS = "all rows"


def _inline(latex: str) -> str:
    text = _safe_math(" ".join(latex.split()))
    return f"\\({text}\\)" if text else "*(none)*"


def comparison_table(data: dict[str, Any], row_filter: str | None = None) -> list[list[Any]]:
    """One line per (item, model row): label and prediction next to each other."""
    lines = []
    for n, item in enumerate(data["items"]):
        for row, s in item["preds"].items():
            if row_filter and row_filter != ALL_ROWS and row != row_filter:
                continue
            sym = {True: "yes", False: "no", None: "not converted"}[s["sym"]]
            cdm = "unrendered" if s["cdm"] is None else round(s["cdm"], 3)
            lines.append([n, item["id"], row, _inline(item["label"]), _inline(s["prediction"]),
                          round(s["edit"], 3), sym, cdm])
    return lines


def load_comparison(ctx: AppContext, row_filter: str | None, *, request: Request
                    ) -> tuple[Any, dict[str, Any], str, Any, str]:
    """(table, data for the context viewer, summary line, row choices, cleared context)."""
    import gradio as gr
    import pandas as pd

    from formulaforge.evaluation.report.comparison import comparison_for_run

    run_dir = ctx.workspace.run_dir
    if run_dir is None:
        raise ValueError("no run directory is open: start the app with --run RUN_DIR")
    data = ctx.cas.run(comparison_for_run, str(run_dir), timeout_s=max(600.0, ctx.limits.cas_timeout_s))
    table = pd.DataFrame(comparison_table(data, row_filter), columns=COLUMNS)
    request.detail = f"{len(data['items'])} items x {len(data['rows'])} rows"
    line = (f"**{len(data['items'])} test items** x {len(data['rows'])} model rows, "
            f"sampling run {data['run']} "
            f"of {data['runs']}. Click a column header to sort, type in the search box to filter, click a "
            "line to see the item's context.")
    choices = [ALL_ROWS, *data["rows"]]
    value = row_filter if row_filter in choices else ALL_ROWS
    return table, data, line, gr.update(choices=choices, value=value), ""


def show_context(ctx: AppContext, data: dict[str, Any] | None, item_id: str | None, *,
                 request: Request) -> str:
    if not data or not item_id:
        raise ValueError("load the comparison first, then click a line")
    item = next((it for it in data["items"] if it["id"] == item_id), None)
    if item is None:
        raise ValueError(f"no test item {item_id!r}")
    request.detail = item_id
    return "\n\n".join([f"**Context of `{item_id}`** (the model's input)",
                        source_block(item["context"] or "(none)")])


def build(ctx: AppContext) -> tuple[Any, list[Any], list[Any]]:
    """The tab; returns (handler, inputs, outputs) that fill it when it is opened."""
    import gradio as gr

    from formulaforge.app.render import LATEX_DELIMITERS
    from formulaforge.app.tabs._bind import bind

    data = gr.State(None)
    with gr.Row():
        rows = gr.Dropdown([ALL_ROWS], value=ALL_ROWS, label="Model row", scale=3, elem_id="ff-compare-row")
        reload_ = gr.Button("Reload", scale=1, elem_id="ff-compare-load")
    summary = gr.Markdown(elem_id="ff-compare-summary")
    table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, elem_id="ff-compare-table",
                         datatype=["number", "str", "str", "markdown", "markdown", "number", "str", "str"],
                         latex_delimiters=LATEX_DELIMITERS, show_search="filter", max_height=700,
                         column_widths=["4%", "13%", "13%", "24%", "24%", "7%", "8%", "7%"])
    context = gr.Markdown(elem_id="ff-compare-context")
    outputs = [table, data, summary, rows, context]
    handler = bind(ctx, "compare", "load", load_comparison, inline=(5, 2))
    reload_.click(handler, [rows], outputs, concurrency_id="cas")
    rows.input(handler, [rows], outputs, concurrency_id="cas")
    picked = gr.Textbox(visible=False)

    def clicked(evt: gr.SelectData) -> str:
        values = getattr(evt, "row_value", None) or []
        return str(values[1]) if len(values) > 1 else ""

    clicked.__annotations__ = {"evt": gr.SelectData, "return": str}  # Gradio reads the hint to pass the click
    table.select(clicked, None, [picked], queue=False).then(
        bind(ctx, "compare", "context", show_context, inline=(1, 0)), [data, picked], [context])
    return handler, [rows], outputs
