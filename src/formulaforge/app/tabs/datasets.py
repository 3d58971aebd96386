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
    # What a person reads first: the formula and its contexts, then ids and bookkeeping.
    first = [c for c in (*FORMULA_FIELDS, *TEXT_FIELDS, "prediction") if c in columns]
    return first + [c for c in columns if c not in first], rows


def browse(ctx: AppContext, relative: str | None, page: float, *, request: Request
           ) -> tuple[Any, list[dict[str, Any]], str]:
    columns, rows = read_page(ctx, relative, page)
    request.detail = f"{relative} page {int(page)}"
    import pandas as pd

    table = pd.DataFrame([[_cell(r.get(c, "")) for c in columns] for r in rows], columns=columns)
    note = f"{len(rows)} rows on page {int(page)}" if rows else f"page {int(page)} is past the end of the file"
    return table, rows, note


def row_clicked(ctx: AppContext, rows: list[dict[str, Any]] | None, index: float, *, request: Request
                ) -> tuple[str, int]:
    """A click on a table line: its detail, and the row number box set to it."""
    return show_row(ctx, rows, index, request=request), int(index)


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
    lines = [f"**{stats['triplets']:,} triplets**", "",
             "| split | triplets |", "|---|---:|",
             *[f"| {k} | {v:,} |" for k, v in stats["per_split"].items()],
             "", "| length | n | mean | min | p5 | median | p95 | max |",
             "|---|---:|---:|---:|---:|---:|---:|---:|",
             _length_row("formula (characters)", stats["formula_chars"]),
             _length_row("context (words)", stats["context_words"]),
             "", "| top symbol | formulas |", "|---|---:|",
             *[f"| `{s}` | {n:,} |" for s, n in stats["top_symbols"][:15]]]
    return "\n".join(lines), heatmap


def _length_row(name: str, d: dict[str, float]) -> str:
    if not d.get("n"):
        return f"| {name} | 0 | - | - | - | - | - | - |"
    cells = [f"{d[k]:,.1f}" if isinstance(d[k], float) else f"{d[k]:,}"
             for k in ("mean", "min", "p5", "p50", "p95", "max")]
    return f"| {name} | {d['n']:,} | " + " | ".join(cells) + " |"


def build(ctx: AppContext) -> None:
    import gradio as gr

    from formulaforge.app.render import LATEX_DELIMITERS
    from formulaforge.app.tabs._bind import bind

    files = ctx.workspace.browsable_files()
    first_page: tuple[Any, list[dict[str, Any]], str] | None = None
    if files:  # the first page is shown on open, not an empty placeholder table
        try:
            first_page = browse(ctx, files[0], 1, request=Request("datasets", "open"))
        except (ValueError, OSError):
            first_page = None
    rows_state = gr.State(first_page[1] if first_page else [])
    with gr.Row():
        file = gr.Dropdown(files, value=files[0] if files else None, label="File (inside the run directory)",
                           scale=4, elem_id="ff-file")
        page = gr.Number(value=1, minimum=1, precision=0, label="Page", scale=1)
        load = gr.Button("Load page", scale=1, elem_id="ff-load-page")
    note = gr.Markdown(first_page[2] + " · click a line to see it rendered" if first_page else "")
    table = gr.Dataframe(value=first_page[0] if first_page else None, interactive=False, wrap=True,
                         elem_id="ff-rows", max_height=600)
    with gr.Row():
        index = gr.Number(value=0, minimum=0, precision=0, label="Row on this page", scale=1)
        show = gr.Button("Show row", scale=1, elem_id="ff-show-row")
    detail = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-row-detail")
    stats_btn = gr.Button("Statistics and co-occurrence heatmap", elem_id="ff-stats")
    with gr.Row():
        stats_md = gr.Markdown(elem_id="ff-stats-summary")
        heatmap = gr.Image(label="Operator co-occurrence P(b | a)", type="numpy", interactive=False)

    load.click(bind(ctx, "datasets", "browse", browse, inline=(3, 2)), [file, page],
               [table, rows_state, note])
    show.click(bind(ctx, "datasets", "show row", show_row, inline=(1, 0)), [rows_state, index], [detail])
    clicked_row = gr.Number(visible=False, precision=0)

    def clicked(evt: gr.SelectData) -> int:
        return int(evt.index[0]) if isinstance(evt.index, list | tuple) else int(evt.index)

    clicked.__annotations__ = {"evt": gr.SelectData, "return": int}  # Gradio reads the hint to pass the click
    table.select(clicked, None, [clicked_row], queue=False).then(
        bind(ctx, "datasets", "row clicked", row_clicked, inline=(2, 0)), [rows_state, clicked_row],
        [detail, index])
    stats_btn.click(bind(ctx, "datasets", "statistics", statistics, inline=(2, 0)), None, [stats_md, heatmap],
                    concurrency_id="cas")
