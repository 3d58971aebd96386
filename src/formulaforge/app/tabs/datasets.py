"""Dataset explorer: page through the run's triplets and stage pairs; statistics and the heatmap."""

from __future__ import annotations

import itertools
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from formulaforge.app.activity import Request
from formulaforge.app.context import AppContext
from formulaforge.app.render import formula_card, source_block

CELL_CHARS = 120
FORMULA_FIELDS = ("formula", "label", "answer_latex", "problem_latex")
TEXT_FIELDS = ("context_before", "input", "problem", "context_after")


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


MAX_PAGE = 1_000_000_000  # islice takes indices up to sys.maxsize; no run has a billion pages


def read_page(ctx: AppContext, relative: str | None, page: float) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) of one page of a JSONL file of the run; streamed, never read whole."""
    if not relative:
        raise ValueError("pick a file")
    path = ctx.workspace.resolve(relative)
    if path.suffix != ".jsonl" or not path.is_file():
        raise ValueError(f"{relative} is not a JSONL file of this run")
    size = ctx.limits.page_rows
    if page is None or not math.isfinite(page) or not 1 <= page <= MAX_PAGE:
        raise ValueError(f"page must be a whole number from 1 to {MAX_PAGE:,}")
    start = (int(page) - 1) * size
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in itertools.islice(fh, start, start + size):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = {"(unreadable line)": line[:CELL_CHARS]}
            rows.append(row if isinstance(row, dict) else {"value": row})
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns, rows


def browse(ctx: AppContext, relative: str | None, page: float, *, request: Request
           ) -> tuple[Any, list[dict[str, Any]], str]:
    columns, rows = read_page(ctx, relative, page)
    request.detail = f"{relative} page {int(page)}"
    import pandas as pd

    table = pd.DataFrame([[_cell(r.get(c, "")) for c in columns] for r in rows], columns=columns)
    note = f"{len(rows)} rows on page {int(page)}" if rows else f"page {int(page)} is past the end of the file"
    return table, rows, note


def show_row(ctx: AppContext, rows: list[dict[str, Any]] | None, index: float, *, request: Request) -> str:
    if not rows:
        raise ValueError("load a page first")
    i = int(index)
    if not 0 <= i < len(rows):
        raise ValueError(f"row {i} is not on this page (0..{len(rows) - 1})")
    row = rows[i]
    parts = [f"**id** `{row.get('id', '?')}`"]
    for key in TEXT_FIELDS:
        if key in row:
            parts += [f"**{key}**", source_block(str(row[key]))]
    for key in FORMULA_FIELDS:
        if key in row and isinstance(row[key], str):
            parts.append(formula_card(key, row[key]))
    return "\n\n".join(parts)


def statistics(ctx: AppContext, *, request: Request) -> tuple[str, np.ndarray]:
    """(summary markdown, heatmap image) of the run's triplets (``data/triplets.jsonl``)."""
    from PIL import Image

    from formulaforge.datasets.stats import dataset_stats, plot_cooccurrence

    data_dir = ctx.workspace.resolve("data")
    stats = dataset_stats(data_dir, top_k=20)
    with tempfile.TemporaryDirectory(prefix="ff-app-") as tmp:
        png = plot_cooccurrence(stats["cooccurrence"]["labels"], stats["cooccurrence"]["p_b_given_a"],
                                Path(tmp) / "cooccurrence.png")
        with Image.open(png) as im:
            heatmap = np.asarray(im.convert("RGB")).copy()
    request.detail = f"{stats['triplets']} triplets"
    lines = [f"**{stats['triplets']:,} triplets**",
             "| split | n |", "|---|---|", *[f"| {k} | {v:,} |" for k, v in stats["per_split"].items()],
             "", f"formula length (chars): {stats['formula_chars']}",
             "", f"context length (words): {stats['context_words']}",
             "", "top symbols: " + ", ".join(f"`{s}` {n}" for s, n in stats["top_symbols"][:15])]
    return "\n".join(lines), heatmap


def build(ctx: AppContext) -> None:
    import gradio as gr

    from formulaforge.app.render import LATEX_DELIMITERS
    from formulaforge.app.tabs._bind import bind

    files = ctx.workspace.browsable_files()
    rows_state = gr.State([])
    with gr.Row():
        file = gr.Dropdown(files, value=files[0] if files else None, label="File (inside the run directory)",
                           scale=4, elem_id="ff-file")
        page = gr.Number(value=1, minimum=1, precision=0, label="Page", scale=1)
        load = gr.Button("Load page", scale=1, elem_id="ff-load-page")
    note = gr.Markdown()
    table = gr.Dataframe(interactive=False, wrap=True, elem_id="ff-rows")
    with gr.Row():
        index = gr.Number(value=0, minimum=0, precision=0, label="Row on this page", scale=1)
        show = gr.Button("Show row", scale=1, elem_id="ff-show-row")
    detail = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-row-detail")
    stats_btn = gr.Button("Statistics and co-occurrence heatmap", elem_id="ff-stats")
    with gr.Row():
        stats_md = gr.Markdown(elem_id="ff-stats-summary")
        heatmap = gr.Image(label="Operator co-occurrence P(b | a)", type="numpy", interactive=False)

    load.click(bind(ctx, "datasets", "browse", browse), [file, page], [table, rows_state, note])
    show.click(bind(ctx, "datasets", "show row", show_row), [rows_state, index], [detail])
    stats_btn.click(bind(ctx, "datasets", "statistics", statistics), None, [stats_md, heatmap],
                    concurrency_id="cas")
