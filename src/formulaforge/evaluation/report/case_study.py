"""A case-study page like the MSFT paper's Figure 3: context, label and each row's output.

Formulas are rendered with KaTeX when a copy is available (``--katex DIR`` pointing at a
KaTeX ``dist`` folder, e.g. ``node_modules/katex/dist`` after ``npm install katex``),
inlined so the page works offline; otherwise the page loads KaTeX from a CDN and, for
readers offline, every formula also carries a mathtext-rendered SVG fallback.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formulaforge.evaluation.report.layout import EvalRow

_CDN = "https://cdn.jsdelivr.net/npm/katex@0.16.11/dist"


def _svg_fallback(latex: str) -> str:
    """A data-URI SVG of ``latex`` drawn by matplotlib mathtext, or "" when it can't be drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    if not latex.strip():
        return ""
    fig = Figure(figsize=(0.01, 0.01))
    fig.text(0, 0, f"${' '.join(latex.replace('&', ' ').replace(chr(92) * 2, ' ').split())}$", fontsize=13)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.05)
    except Exception:  # noqa: BLE001 - unrenderable formula: no fallback image
        return ""
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def _formula_cell(latex: str) -> str:
    src = html.escape(latex)
    img = _svg_fallback(latex)
    fallback = f'<img class="fallback" alt="{src}" src="{img}">' if img else ""
    return (f'<div class="formula"><span class="tex" data-tex="{src}"></span>{fallback}'
            f'<code>{src or "(no formula)"}</code></div>')


def _katex_assets(katex_dir: Path | None) -> str:
    if katex_dir and (katex_dir / "katex.min.js").exists():
        css = (katex_dir / "katex.min.css").read_text(encoding="utf-8")
        js = (katex_dir / "katex.min.js").read_text(encoding="utf-8")
        return f"<style>{css}</style><script>{js}</script>"
    return f'<link rel="stylesheet" href="{_CDN}/katex.min.css"><script defer src="{_CDN}/katex.min.js"></script>'


def case_study_html(
    rows: Sequence[EvalRow],
    contexts: dict[str, str],
    n_cases: int = 5,
    katex_dir: Path | None = None,
) -> str:
    """The page for the first ``n_cases`` test samples (run 0 of each row)."""
    preds: dict[str, dict[str, Any]] = {}
    ids: list[str] = []
    labels: dict[str, str] = {}
    for r in rows:
        path = r.run_dir / "eval" / r.name / "predictions.jsonl"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            p = json.loads(line)
            if p.get("run", 0) != 0:
                continue
            if p["id"] not in labels:
                ids.append(p["id"])
                labels[p["id"]] = p["label"]
            preds.setdefault(p["id"], {})[r.label] = p["prediction"]
    cases = []
    for sid in ids[:n_cases]:
        outputs = "".join(
            f"<tr><th>{html.escape(label)}</th><td>{_formula_cell(pred)}</td></tr>"
            for label, pred in preds.get(sid, {}).items()
        )
        cases.append(
            f'<section><h2>Sample {html.escape(sid)}</h2><p class="ctx">{html.escape(contexts.get(sid, ""))}</p>'
            f"<table><tr><th>Label</th><td>{_formula_cell(labels[sid])}</td></tr>{outputs}</table></section>"
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>FormulaForge case study</title>
{_katex_assets(katex_dir)}
<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}}
.ctx{{background:#f6f6f6;padding:.8em;white-space:pre-wrap}} table{{border-collapse:collapse;width:100%}}
th{{text-align:left;width:14em;vertical-align:top;padding:.4em}} td{{padding:.4em;border-top:1px solid #ddd}}
code{{display:block;color:#555;font-size:.85em;margin-top:.3em}} .katex-ok .fallback{{display:none}}</style></head>
<body><h1>Case study: formulas generated from context</h1>{"".join(cases) or "<p>No predictions found.</p>"}
<script>window.addEventListener('load',function(){{if(!window.katex)return;
document.querySelectorAll('.tex').forEach(function(el){{try{{katex.render(el.dataset.tex,el,
{{displayMode:true,throwOnError:true}});el.parentNode.classList.add('katex-ok');}}catch(e){{}}}});}});</script>
</body></html>"""
