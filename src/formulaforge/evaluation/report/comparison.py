"""Predictions beside labels: every test item, its label and each evaluated row's output, with
per-item scores (normalized-token edit similarity, symbolic equivalence, rendered-symbol
match), for the report's comparison page and the web UI's Compare tab.

The scores come from the metric modules' public per-pair functions, on the same
whitespace-canonical text the evaluation scored, so an item's numbers are the ones its
corpus mean was made of. A formula the renderer cannot draw gets ``cdm = None``
("unrendered"), one sympy cannot read gets ``sym = None`` ("not converted").
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formulaforge.evaluation.report.layout import EvalRow
from formulaforge.utils.jsonl import read_jsonl

SCORES = {"edit": "edit similarity", "sym": "symbolically equal", "cdm": "rendered-symbol F1 (CDM)"}


def item_scores(prediction: str, label: str, rendered: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"edit": float, "sym": bool | None, "cdm": float | None}`` for one pair.

    ``rendered`` (whitespace-canonical formula -> rendered symbols, from ``render_many``) lets a
    page render every formula in one batch; without it the pair is rendered here.
    """
    from formulaforge.evaluation.metrics.formula_aware import (
        edit_similarity,
        normalized_tokens,
        pair_equivalence,
    )
    from formulaforge.evaluation.runner import canonical_whitespace

    pred, ref = canonical_whitespace(prediction), canonical_whitespace(label)
    p_tok, r_tok = normalized_tokens(pred), normalized_tokens(ref)
    sym: bool | None
    if not pred.strip():
        sym = False
    elif p_tok == r_tok:
        sym = True
    else:
        ok, equal = pair_equivalence((pred, ref))
        sym = equal if ok else None
    return {"edit": round(edit_similarity(p_tok, r_tok), 4), "sym": sym, "cdm": _cdm(pred, ref, rendered)}


def _cdm(pred: str, ref: str, rendered: dict[str, Any] | None = None) -> float | None:
    """Rendered-symbol F1; None when the reference does not render (an unrendered prediction scores 0)."""
    from formulaforge.evaluation.metrics.render import render_many, score_symbols

    if rendered is None:
        rendered = dict(zip((pred, ref), render_many([pred, ref]), strict=True))
    f1 = score_symbols(rendered.get(pred) if pred.strip() else None, rendered.get(ref))["f1"]
    return None if f1 is None else round(float(f1), 4)


def contexts_of(run_dir: Path) -> dict[str, str]:
    """Test-split inputs by id (the stage-I test file of the run)."""
    path = run_dir / "stages" / "stage1" / "test.jsonl"
    return {r["id"]: r["input"] for r in read_jsonl(path)} if path.exists() else {}


def comparison_data(rows: Sequence[EvalRow], contexts: dict[str, str], run: int = 0) -> dict[str, Any]:
    """Every test item of sampling run ``run`` with each row's prediction and scores."""
    labels: list[str] = []
    items: dict[str, dict[str, Any]] = {}
    pending: list[tuple[dict[str, Any], str, str]] = []
    runs = 1
    for r in rows:
        path = r.run_dir / "eval" / r.name / "predictions.jsonl"
        if not path.exists():
            continue
        labels.append(r.label)
        for p in read_jsonl(path):
            runs = max(runs, int(p.get("run", 0)) + 1)
            if int(p.get("run", 0)) != run:
                continue
            item = items.setdefault(p["id"], {"id": p["id"], "label": p["label"],
                                              "context": contexts.get(p["id"], ""), "preds": {}})
            item["preds"][r.label] = {"prediction": p["prediction"]}
            pending.append((item["preds"][r.label], p["prediction"], p["label"]))
    if pending:  # every distinct formula rendered once, in one batch (one TeX run per batch)
        from formulaforge.evaluation.metrics.render import render_many
        from formulaforge.evaluation.runner import canonical_whitespace

        texts = list(dict.fromkeys(canonical_whitespace(t) for _, pred, label in pending for t in (pred, label)))
        rendered = dict(zip(texts, render_many(texts), strict=True))
        for target, pred, label in pending:
            target.update(item_scores(pred, label, rendered))
    return {"rows": labels, "run": run, "runs": runs, "items": list(items.values())}


def summary_markdown(data: dict[str, Any]) -> str:
    """Per-row counts over the compared items: the page's numbers in one table."""
    lines = ["| Row | items | mean edit sim. | sym. equal | not converted | mean CDM | unrendered |",
             "|---|---|---|---|---|---|---|"]
    for row in data["rows"]:
        scores = [it["preds"][row] for it in data["items"] if row in it["preds"]]
        if not scores:
            continue
        cdm = [s["cdm"] for s in scores if s["cdm"] is not None]
        mean_cdm = f"{sum(cdm) / len(cdm):.3f}" if cdm else "-"
        lines.append(
            f"| {row} | {len(scores)} | {sum(s['edit'] for s in scores) / len(scores):.3f} | "
            f"{sum(s['sym'] is True for s in scores)} | {sum(s['sym'] is None for s in scores)} | "
            f"{mean_cdm} | {len(scores) - len(cdm)} |")
    return "\n".join(lines)


def _badges(s: dict[str, Any]) -> str:
    sym = {True: "sym ✓", False: "sym ✗", None: "sym: not converted"}[s["sym"]]
    cdm = "CDM: unrendered" if s["cdm"] is None else f"CDM {s['cdm']:.2f}"
    return f'<div class="scores">edit {s["edit"]:.2f} · {sym} · {cdm}</div>'


def _sort_value(s: dict[str, Any] | None, key: str) -> str:
    if s is None or s[key] is None:
        return "-1"
    return str(float(s[key]))


def comparison_html(data: dict[str, Any], title: str, katex_dir: Path | None = None) -> str:
    """A self-contained page: filter box, sort by any row's score, context on demand."""
    from formulaforge.evaluation.report.case_study import _formula_cell, _katex_assets

    rows = data["rows"]
    sort_options = ['<option value="order">test order</option>'] + [
        f'<option value="k{i}-{key}">{html.escape(row)}: {label}</option>'
        for i, row in enumerate(rows) for key, label in SCORES.items()]
    head = "".join(f"<th>{html.escape(r)}</th>" for r in rows)
    body = []
    for n, item in enumerate(data["items"]):
        keys = " ".join(f'data-k{i}-{key}="{_sort_value(item["preds"].get(row), key)}"'
                        for i, row in enumerate(rows) for key in SCORES)
        cells = []
        for row in rows:
            s = item["preds"].get(row)
            cells.append(f"<td>{_formula_cell(s['prediction']) + _badges(s)}</td>" if s else "<td>-</td>")
        context = html.escape(item["context"]) or "(no context found)"
        body.append(
            f'<tr class="item" data-order="{n}" {keys}><td class="id">{html.escape(item["id"])}'
            f'<details><summary>context</summary><div class="ctx">{context}</div></details></td>'
            f"<td>{_formula_cell(item['label'])}</td>{''.join(cells)}</tr>")
    note = (f"{len(data['items'])} test items · sampling run {data['run']} of {data['runs']} "
            f"(every run is in eval/&lt;row&gt;/predictions.jsonl)")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
{_katex_assets(katex_dir)}
<style>body{{font-family:system-ui,sans-serif;margin:1.5em}} table{{border-collapse:collapse;width:100%}}
th,td{{text-align:left;vertical-align:top;padding:.45em;border-top:1px solid #ddd}} th{{background:#f3f3f3;
position:sticky;top:0}} td.id{{width:11em;font-size:.85em;word-break:break-all}}
.ctx{{white-space:pre-wrap;background:#f6f6f6;padding:.5em;max-height:20em;overflow:auto;word-break:normal}}
code{{display:block;color:#555;font-size:.8em;margin-top:.3em;white-space:pre-wrap;word-break:break-all}}
.scores{{font-size:.8em;color:#225;margin-top:.3em}} .katex-ok .fallback{{display:none}}
.controls{{margin:1em 0;display:flex;gap:1em;align-items:center;flex-wrap:wrap}}
.formula{{overflow-x:auto;max-width:40em}}</style></head>
<body><h1>{html.escape(title)}</h1><p id="note">{note}</p>
<div class="controls">
<label>Filter <input id="filter" type="search" placeholder="id, LaTeX or context"></label>
<label>Sort by <select id="sort">{"".join(sort_options)}</select></label>
<label><input id="desc" type="checkbox"> descending</label> <span id="shown"></span></div>
<table id="comparison"><thead><tr><th>Item</th><th>Label</th>{head}</tr></thead>
<tbody>{"".join(body) or '<tr><td colspan="2">No predictions found.</td></tr>'}</tbody></table>
<script>(function(){{var tb=document.querySelector('#comparison tbody');
var items=[].slice.call(tb.querySelectorAll('tr.item'));
function apply(){{var q=document.getElementById('filter').value.toLowerCase();
var key=document.getElementById('sort').value,desc=document.getElementById('desc').checked,shown=0;
var val=function(tr){{return parseFloat(key==='order'?tr.dataset.order:tr.getAttribute('data-'+key));}};
items.sort(function(a,b){{var d=val(a)-val(b);return (desc?-d:d)||(a.dataset.order-b.dataset.order);}});
items.forEach(function(tr){{var hit=!q||tr.textContent.toLowerCase().indexOf(q)>=0||
[].some.call(tr.querySelectorAll('[data-tex]'),
function(e){{return e.dataset.tex.toLowerCase().indexOf(q)>=0;}});
tr.style.display=hit?'':'none';shown+=hit;tb.appendChild(tr);}});
document.getElementById('shown').textContent=shown+' of '+items.length+' items shown';}}
['filter','sort','desc'].forEach(function(id){{document.getElementById(id).addEventListener('input',apply);
document.getElementById(id).addEventListener('change',apply);}});apply();}})();
window.addEventListener('load',function(){{if(!window.katex)return;
document.querySelectorAll('.tex').forEach(function(el){{try{{katex.render(el.dataset.tex,el,
{{displayMode:true,throwOnError:true}});el.parentNode.classList.add('katex-ok');}}catch(e){{}}}});}});</script>
</body></html>"""


def write_comparison(rows: Sequence[EvalRow], out_dir: Path, name: str, katex_dir: Path | None = None
                     ) -> tuple[Path, Path, dict[str, Any]]:
    """``comparison_<name>.html`` and ``.json`` in ``out_dir``; returns both paths and the data."""
    from formulaforge.utils.atomic import write_text_atomic

    data = comparison_data(rows, contexts_of(rows[0].run_dir))
    page = out_dir / f"comparison_{name}.html"
    write_text_atomic(page, comparison_html(data, f"Predictions beside labels: {name}", katex_dir))
    raw = out_dir / f"comparison_{name}.json"
    write_text_atomic(raw, json.dumps(data, ensure_ascii=False))
    return page, raw, data


def comparison_for_run(run_dir: str) -> dict[str, Any]:
    """The comparison of one run folder, from its report when that is newer than every
    prediction file, else computed (picklable entry point for the web UI's CAS worker)."""
    from formulaforge.evaluation.report.layout import read_rows

    run = Path(run_dir)
    rows = read_rows(run)
    if not rows:
        raise ValueError(f"{run.name} has no evaluated rows yet (eval/*/predictions.jsonl)")
    saved = run / "report" / f"comparison_{run.name}.json"
    newest = max((r.run_dir / "eval" / r.name / "predictions.jsonl").stat().st_mtime for r in rows
                 if (r.run_dir / "eval" / r.name / "predictions.jsonl").exists())
    if saved.is_file() and saved.stat().st_mtime >= newest:
        return json.loads(saved.read_text(encoding="utf-8"))
    return comparison_data(rows, contexts_of(run))
