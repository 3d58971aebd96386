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


def _make_run(root: Path, name: str, msft: dict, predictions: dict[str, list[str]]) -> Path:
    run = root / name
    (run / "stages" / "stage1").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"name": name, "model": {"name": "tiny"}, "msft": msft}))
    write_jsonl(run / "stages" / "stage1" / "test.jsonl",
                [{"id": f"t{i}", "input": f"context {i}", "label": lab} for i, lab in enumerate(LABELS)])
    for order, (row, preds) in enumerate(predictions.items()):
        d = run / "eval" / row
        d.mkdir(parents=True)
        runs = [standard_metrics(preds, LABELS), standard_metrics(preds, LABELS)]
        (d / "metrics.json").write_text(json.dumps(summarize_runs(runs)))
        (d / "row.json").write_text(json.dumps({"trainable": 1000 * (order + 1), "total": 100_000}))
        write_jsonl(d / "predictions.jsonl",
                    [{"id": f"t{i}", "run": 0, "prediction": p, "label": LABELS[i]} for i, p in enumerate(preds)])
    write_jsonl(run / "train" / "stage1" / "log.jsonl", [{"step": s, "loss": 3.0 / s} for s in range(1, 6)])
    return run


def test_report_tables_plots_and_case_study(tmp_path: Path) -> None:
    preds = {"baseline": ["x", "y", "z"], "stage1": ["E = mc^2", "a / b", r"\sum x"],
             "stage3": LABELS}
    a = _make_run(tmp_path, "multi", {"r2": 512, "from_scratch": False}, preds)
    b = _make_run(tmp_path, "scratch", {"r2": 512, "from_scratch": True}, preds)
    result = build_report([a, b], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    lines = md.splitlines()
    base, lora, q = (next(i for i, l in enumerate(lines) if lab in l)
                     for lab in ("Baseline (zero-shot)", "| w/ LoRA |", "w/ LoRA+D-plugin+Q-plugin"))
    assert base < lora < q  # Table 1 order
    assert "reported, not re-run" in md and "13.05 ± 0.04" in md  # paper rows, labelled
    assert "Table 2" in md  # the runs differ in from_scratch
    assert "100.00 ± 0.00" in md  # stage3 predictions equal the labels: BLEU 100 in both runs
    assert "1%" in md or "1.00%" in md  # new/total for stage1 = 1000/100000
    assert (tmp_path / "report" / "loss_multi.png").stat().st_size > 1000
    page = (tmp_path / "report" / "case_study_multi.html").read_text()
    assert "context 0" in page and "mc^2" in page and "w/ LoRA" in page
    assert json.loads((tmp_path / "report" / "report.json").read_text())["tables"][0]["title"].startswith("Table 1")
    assert (tmp_path / "report" / "table_1.csv").read_text().startswith("Model,Row,Trainable")
    assert result["files"]["markdown"].endswith("report.md")


def test_report_without_evals_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no evaluated rows"):
        build_report([tmp_path / "empty"], tmp_path / "out")
