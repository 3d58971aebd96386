from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.utils.jsonl import write_jsonl


def _stage_dir(root: Path) -> Path:
    d = root / "stages" / "stage1"
    rows = [{"id": f"t{i}", "input": f"Context {i}: the energy of a particle at rest.", "label": "E = mc^2"}
            for i in range(5)]
    write_jsonl(d / "test.jsonl", rows)
    write_jsonl(d / "train.jsonl", rows)
    return d


def test_eval_cli_writes_metrics(tiny_llama_dir: Path, tmp_path: Path) -> None:
    data = _stage_dir(tmp_path)
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_llama_dir), "--data", str(data), "--out", str(out),
                                      "--runs", "2", "--limit", "3", "--max-new-tokens", "4", "--few-shot", "1",
                                      "--no-render-metric"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["_meta"]["n_samples"] == 3 and metrics["_meta"]["few_shot"] == 1
    assert len(metrics["bleu"]["runs"]) == 2 and "norm_exact" in metrics
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 6
    assert "bleu" in result.stdout


def test_eval_cli_bad_input(tiny_llama_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", "--model", str(tiny_llama_dir), "--data", str(tmp_path), "--out",
                                  str(tmp_path / "o")])
    assert missing.exit_code == 2 and "no test split" in missing.output
    data = _stage_dir(tmp_path)
    both = runner.invoke(app, ["eval", "--model", str(tiny_llama_dir), "--data", str(data), "--out", str(tmp_path / "o"),
                               "--stages", str(tmp_path), "--adapter", str(tmp_path)])
    assert both.exit_code == 2 and "not both" in both.output
