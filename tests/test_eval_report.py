"""A report from tiny runs laid out the way the pipeline writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from formulaforge.evaluation.metrics import summarize_runs
from formulaforge.evaluation.metrics.standard import standard_metrics
from formulaforge.evaluation.report.build import build_report
from formulaforge.utils.jsonl import write_jsonl

LABELS = ["E = mc^2", r"\frac{a}{b} + c", r"\sum_{i=1}^n x_i"]


def _make_run(root: Path, name: str, msft: dict, predictions: dict[str, list[str]], mode: str = "tokenized",
              labels: list[str] = LABELS) -> Path:
    run = root / name
    (run / "stages" / "stage1").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"name": name, "model": {"name": "tiny"}, "msft": msft}))
    write_jsonl(run / "stages" / "stage1" / "test.jsonl",
                [{"id": f"t{i}", "input": f"context {i}", "label": lab} for i, lab in enumerate(labels)])
    for order, (row, preds) in enumerate(predictions.items()):
        d = run / "eval" / row
        d.mkdir(parents=True)
        runs = [standard_metrics(preds, labels, mode), standard_metrics(preds, labels, mode)]
        metrics = summarize_runs(runs)
        metrics["_meta"] = {"metric_mode": mode}
        (d / "metrics.json").write_text(json.dumps(metrics))
        (d / "row.json").write_text(json.dumps({"trainable": 1000 * (order + 1), "total": 100_000}))
        write_jsonl(d / "predictions.jsonl",
                    [{"id": f"t{i}", "run": 0, "prediction": p, "label": labels[i]} for i, p in enumerate(preds)])
    write_jsonl(run / "train" / "stage1" / "log.jsonl", [{"step": s, "loss": 3.0 / s} for s in range(1, 6)])
    return run


def test_report_tables_plots_and_case_study(tmp_path: Path) -> None:
    preds = {"baseline": ["x", "y", "z"], "stage1": ["E = mc^2", "a / b", r"\sum x"],
             "stage3": LABELS}
    a = _make_run(tmp_path, "multi", {"r2": 512, "from_scratch": False}, preds)
    b = _make_run(tmp_path, "scratch", {"r2": 512, "from_scratch": True}, preds)
    result = build_report([a, b], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    rows = _table1_rows(md)
    ours = [r for r in rows if r["Model"].startswith("tiny [multi]")]
    assert [r["Row"] for r in ours] == ["Baseline (zero-shot)", "w/ LoRA", "w/ LoRA+D-plugin+Q-plugin"]  # order
    # new/total = trainable / 100,000 with trainable 1000, 2000, 3000 in row order
    assert [r["New/Total"] for r in ours] == ["1.00%", "2.00%", "3.00%"]
    assert all(r["Metrics"] == "tokenized" for r in ours)
    base, lora, q = ours
    assert q["BLEU↑"] == "100.00 ± 0.00" and q["WER↓"] == "0.00 ± 0.00"  # predictions equal the labels
    assert base["BLEU↑"] == "0.00 ± 0.00" and base["ROUGE-1↑"] == "0.00 ± 0.00"  # x, y, z share nothing
    expected = standard_metrics(preds["stage1"], LABELS)["bleu"]
    assert lora["BLEU↑"] == f"{expected:.2f} ± 0.00" and 0 < expected < 100
    reported = [r for r in rows if "reported, not re-run" in r["Model"]]
    assert reported and all(r["Metrics"] == "reported" for r in reported)  # paper rows, labelled
    assert any(r["BLEU↑"] == "13.05 ± 0.04" for r in reported)
    assert "(metrics: tokenized mode)" in md and "tokenized mode: both sides normalized" in md
    assert "Table 2" in md  # the runs differ in from_scratch
    assert (tmp_path / "report" / "loss_multi.png").stat().st_size > 1000
    page = (tmp_path / "report" / "case_study_multi.html").read_text()
    assert "context 0" in page and "mc^2" in page and "w/ LoRA" in page
    assert json.loads((tmp_path / "report" / "report.json").read_text())["tables"][0]["title"].startswith("Table 1")
    assert (tmp_path / "report" / "table_1.csv").read_text().startswith("Model,Row,Trainable")
    assert result["files"]["markdown"].endswith("report.md")


def _table1_rows(md: str) -> list[dict[str, str]]:
    lines = md.split("### Table 1", 1)[1].splitlines()
    table = [ln for ln in lines[: next(i for i, ln in enumerate(lines) if ln.startswith("### ") and i)]
             if ln.startswith("| ")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in ln.strip("|").split("|")))) for ln in table[1:]]


DEMO_LABELS = [  # stored the way stage building writes labels: normalized, no spaces
    r"E=mc^2", r"\frac{\partial u}{\partial t}=\alpha\nabla^2u", r"f(x)=\sum_{n=0}^\infty a_nx^n",
    r"\|x+y\|\leq\|x\|+\|y\|", r"p(\theta|x)=\frac{p(x|\theta)p(\theta)}{p(x)}",
]
DEMO_PREDICTIONS = [  # near misses as a small model writes them: spaces, one symbol off
    r"E = m c^2", r"\frac{\partial u}{\partial t} = \beta \nabla^2 u", r"f(x) = \sum_{n=1}^\infty a_n x^n",
    r"\| x + y \| \le \| x \| + \| y \|", r"p(\theta | x) = \frac{p(x | \theta) p(\theta)}{p(y)}",
]


def test_demo_like_bleu_column_is_not_zero_in_default_mode(tmp_path: Path) -> None:
    """Labels without spaces and near-miss predictions: BLEU on the strings as written is 0,
    on tokens it is not (the demo report showed BLEU 0.00 in every row before issue 16)."""
    tok = _make_run(tmp_path / "t", "demo", {}, {"stage1": DEMO_PREDICTIONS}, labels=DEMO_LABELS)
    raw = _make_run(tmp_path / "m", "demo", {}, {"stage1": DEMO_PREDICTIONS}, "mathbridge", DEMO_LABELS)
    tok_row = _table1_rows(build_report([tok], tmp_path / "rt")["markdown"])[0]
    raw_row = _table1_rows(build_report([raw], tmp_path / "rm")["markdown"])[0]
    assert tok_row["Metrics"] == "tokenized" and raw_row["Metrics"] == "mathbridge"
    assert float(tok_row["BLEU↑"].split()[0]) > 30
    assert raw_row["BLEU↑"] == "0.00 ± 0.00"
    assert float(tok_row["WER↓"].split()[0]) < 0.2 < float(raw_row["WER↓"].split()[0])


def test_report_without_evals_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no evaluated rows"):
        build_report([tmp_path / "empty"], tmp_path / "out")
