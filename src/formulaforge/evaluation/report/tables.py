"""Tables laid out like the MSFT paper's (Table 1: stages; 2: from scratch and r2 = 640;
3/5: joint learning and dimension sweeps), as Markdown, CSV and JSON.

Tables 2, 3 and 5 are comparisons *across runs*: a run's recipe says which ablation it is
(``msft.from_scratch``, ``msft.joint``, ``msft.r2``, ``msft.r3``), and a table appears
only when runs that differ in that setting were given.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

from formulaforge.evaluation.metrics.aggregate import format_mean_std
from formulaforge.evaluation.report.layout import EvalRow, read_config
from formulaforge.evaluation.reported import MSFT_TABLE1, REPORTED_NOTE

PAPER_COLUMNS = [("bleu", "BLEU↑"), ("sacrebleu", "sBLEU↑"), ("rouge1", "ROUGE-1↑"), ("wer", "WER↓"), ("cer", "CER↓")]
OURS_COLUMNS = [
    ("norm_bleu", "norm-BLEU↑"),
    ("norm_edit_sim", "norm-edit-sim↑"),
    ("norm_exact", "norm-exact↑"),
    ("sym_equiv", "sym-equiv↑"),
    ("sym_converted", "sym-converted"),
    ("render_f1", "render-F1↑"),
    ("render_exact", "render-exact↑"),
    ("no_formula", "no-formula↓"),
]


MODE_NOTES = {
    "tokenized": "tokenized mode: both sides normalized (formula.normalize) and split by FormulaForge's LaTeX "
                 "tokenizer, tokens joined by single spaces, then BLEU (order 4, no smoothing, x100), sBLEU "
                 "(sacrebleu defaults), ROUGE-1 (rouge-score F1, mean), WER and CER (jiwer, corpus level)",
    "mathbridge": "mathbridge mode: the strings as written, computed as MathBridge's evaluation script does "
                  "(BLEU on whitespace words, order 4, no smoothing, x100; sBLEU sacrebleu defaults; ROUGE-1 "
                  "rouge-score F1 as the exact mean, where HF reports a bootstrap median; WER/CER jiwer corpus "
                  "level, CER after collapsing whitespace runs)",
    "unrecorded": "unrecorded mode: evaluated before the mode was recorded (whitespace words of the strings "
                  "as written, CER without whitespace collapsing)",
}
"""What each ``metric_mode`` means, for table notes (docs/evaluation.md has the full definitions)."""


def metric_mode(row: EvalRow) -> str:
    """The mode that produced a row's five literature metrics (``_meta.metric_mode``)."""
    meta = row.metrics.get("_meta")
    mode = meta.get("metric_mode") if isinstance(meta, dict) else None
    return str(mode) if mode else "unrecorded"


def _mode_note(rows: Sequence[EvalRow]) -> str:
    modes = sorted({metric_mode(r) for r in rows})
    return "Metrics column: " + "; ".join(MODE_NOTES.get(m, m) for m in modes) + "."


def _params(n: int | None) -> str:
    if not n:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def _cell(metrics: dict[str, Any], key: str) -> str:
    m = metrics.get(key)
    if not isinstance(m, dict) or m.get("mean") is None or (isinstance(m["mean"], float) and math.isnan(m["mean"])):
        return "-"
    return format_mean_std(m["mean"], m["std"])


class Table:
    def __init__(self, title: str, header: list[str], rows: list[list[str]], note: str = "") -> None:
        self.title, self.header, self.rows, self.note = title, header, rows, note

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return buf.getvalue()

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "header": self.header, "rows": self.rows, "note": self.note}


def table1(rows: Sequence[EvalRow], with_reported: bool = True) -> Table:
    """Baseline / w/ LoRA / + D-plugin / + Q-plugin with params and the five paper metrics."""
    header = ["Model", "Row", "Trainable", "New/Total", "Metrics"] + [h for _, h in PAPER_COLUMNS]
    body = []
    several_runs = len({r.run_dir for r in rows}) > 1
    for r in rows:
        model = str(read_config(r.run_dir).get("model", {}).get("name", r.run_dir.name))
        if several_runs:
            model = f"{model} [{r.run_dir.name}]"
        pct = f"{r.new_total_pct:.2f}%" if r.new_total_pct is not None else "-"
        body.append([model, r.label, _params(r.trainable), pct, metric_mode(r)]
                    + [_cell(r.metrics, k) for k, _ in PAPER_COLUMNS])
    if with_reported:
        for ref in MSFT_TABLE1:
            cells = []
            for key, _ in PAPER_COLUMNS:
                mean, std = ref[key]
                cells.append(f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else ""))
            body.append([f"{ref['model']} ({REPORTED_NOTE})", ref["row"], ref["trainable"] or "-",
                         ref["new_total"] or "-", "reported"] + cells)
    note = (
        _mode_note(rows) + " ROUGE-1's tokenizer drops every symbol. Mean ± std over runs. Rows marked "
        f"'{REPORTED_NOTE}' (Metrics: reported) are copied from the MSFT paper (CF50K, 8B/7B models, its own "
        "MathBridge-style computation on strings as written) for orientation only; they are comparable with "
        "mathbridge-mode rows at most, never with tokenized ones."
    )
    modes = sorted({metric_mode(r) for r in rows})
    return Table(f"Table 1 — formula generation by stage (metrics: {', '.join(modes) or '-'} mode)",
                 header, body, note)


def formula_aware_table(rows: Sequence[EvalRow]) -> Table:
    header = ["Run", "Row"] + [h for _, h in OURS_COLUMNS]
    body = [[r.run_dir.name, r.label] + [_cell(r.metrics, k) for k, _ in OURS_COLUMNS] for r in rows]
    note = "FormulaForge's formula-aware metrics (not in the paper): normalized-token BLEU (the same value as " \
           "Table 1's BLEU in tokenized mode)/edit similarity/exact match, sympy equivalence where both sides " \
           "convert, rendered-symbol F1 (CDM-style)."
    return Table("Formula-aware metrics (ours)", header, body, note)


def _final_row(rows: Sequence[EvalRow]) -> EvalRow | None:
    trained = [r for r in rows if r.name.startswith("stage")]
    return max(trained, key=lambda r: r.order) if trained else None


def ablation_tables(runs: dict[str, list[EvalRow]]) -> list[Table]:
    """Tables 2, 3 and 5 from several runs, when runs differing in those settings exist."""
    described = []
    for run_name, rows in runs.items():
        final = _final_row(rows)
        if final is None:
            continue
        msft = read_config(final.run_dir).get("msft", {})
        described.append((run_name, msft, final))
    tables: list[Table] = []
    header = ["Run", "D-plugin r2", "Q-plugin r3", "From scratch", "Joint", "Final stage", "Trainable",
              "Metrics"] + [h for _, h in PAPER_COLUMNS]
    note = _mode_note([r for _, _, r in described])

    def row(name: str, msft: dict[str, Any], r: EvalRow) -> list[str]:
        q = str(msft.get("r3", 32)) if r.name == "stage3" else "-"
        d = str(msft.get("r2", 512)) if r.name in ("stage2", "stage3") else "-"
        return [name, d, q, "✓" if msft.get("from_scratch") else "✗", "✓" if msft.get("joint") else "✗",
                r.label, _params(r.trainable), metric_mode(r)] + [_cell(r.metrics, k) for k, _ in PAPER_COLUMNS]

    def varies(key: str) -> bool:
        return len({bool(m.get(key)) if isinstance(m.get(key), bool) else m.get(key) for _, m, _ in described}) > 1

    if varies("from_scratch") or any(m.get("r2") == 640 for _, m, _ in described):
        tables.append(Table("Table 2 — multi-stage vs training from scratch (and the r2 = 640 control)", header,
                            [row(*d) for d in described], note))
    if varies("joint"):
        tables.append(Table("Table 3 — joint learning", header, [row(*d) for d in described], note))
    if varies("r2") or varies("r3"):
        tables.append(Table("Table 5 — intermediate dimensions", header, [row(*d) for d in described], note))
    return tables
