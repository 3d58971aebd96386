from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.evaluation.metrics.standard import standard_metrics
from formulaforge.evaluation.runner import canonical_whitespace
from formulaforge.utils.jsonl import write_jsonl

LABELS = ["E = mc^2", r"\frac{a}{b}", r"x^2 + y^2 = r^2", r"\sum_{i=1}^n i", r"\int_0^1 f(x) dx"]


def _stage_dir(root: Path) -> Path:
    d = root / "stages" / "stage1"
    rows = [{"id": f"t{i}", "input": f"Context {i}: the energy of a particle at rest.", "label": lab}
            for i, lab in enumerate(LABELS)]
    write_jsonl(d / "test.jsonl", rows)
    write_jsonl(d / "train.jsonl", rows)
    return d


def test_eval_cli_writes_metrics(tiny_llama_dir: Path, tmp_path: Path) -> None:
    data = _stage_dir(tmp_path)
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_llama_dir), "--data", str(data), "--out", str(out),
                                      "--runs", "2", "--limit", "3", "--max-new-tokens", "4", "--few-shot", "1",
                                      "--no-render-metric", "--metric-mode", "mathbridge"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["_meta"]["n_samples"] == 3 and metrics["_meta"]["few_shot"] == 1
    assert len(metrics["bleu"]["runs"]) == 2 and "norm_exact" in metrics
    saved = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(saved) == 6
    assert [(r["id"], r["label"]) for r in saved if r["run"] == 1] == [(f"t{i}", LABELS[i]) for i in range(3)]
    for run in (0, 1):
        preds = [canonical_whitespace(r["prediction"]) for r in saved if r["run"] == run]
        expected = standard_metrics(preds, [canonical_whitespace(lab) for lab in LABELS[:3]], "mathbridge")
        assert metrics["cer"]["runs"][run] == pytest.approx(expected["cer"])
        assert metrics["bleu"]["runs"][run] == pytest.approx(expected["bleu"])
    assert metrics["_meta"]["metric_mode"] == "mathbridge"
    assert f"{metrics['cer']['mean']:.4f}" in result.stdout and "mathbridge mode" in result.stdout


def test_eval_cli_bad_input(tiny_llama_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", "--model", str(tiny_llama_dir), "--data", str(tmp_path), "--out",
                                  str(tmp_path / "o")])
    assert missing.exit_code == 2 and "no test split" in missing.output
    data = _stage_dir(tmp_path)
    both = runner.invoke(app, ["eval", "--model", str(tiny_llama_dir), "--data", str(data), "--out", str(tmp_path / "o"),
                               "--stages", str(tmp_path), "--adapter", str(tmp_path)])
    assert both.exit_code == 2 and "not both" in both.output
    mode = runner.invoke(app, ["eval", "--model", str(tiny_llama_dir), "--data", str(data), "--out",
                               str(tmp_path / "o"), "--metric-mode", "words"])
    assert mode.exit_code == 2 and "--metric-mode must be" in mode.output
