"""The main job end to end on a tiny random Llama: every step, the report, resume, dry run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from corpus_helpers import write_corpus
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.pipeline.config import parse_config
from formulaforge.pipeline.manifest import RunManifest
from formulaforge.pipeline.run import dry_run, run


def _config(tmp_path: Path, model_dir: Path) -> dict:
    tiny = {"max_steps": 2, "batch_size": 2, "max_input_tokens": 64, "max_output_tokens": 32}
    return {
        "name": "tiny",
        "out": str(tmp_path / "runs" / "{name}"),
        "data": {"sources": [str(write_corpus(tmp_path))], "min_context_tokens": 16},
        "stages": {"stage12_subset": None, "stage3_subset": None, "max_chain": 4},
        "model": {"name": str(model_dir)},
        "msft": {"r1": 4, "alpha": 8, "r2": 8, "r3": 2},
        "train": {"stage1": tiny, "stage2": tiny, "stage3": tiny},
        "eval": {"runs": 2, "limit": 3, "max_new_tokens": 4, "render_metric": False},
    }


@pytest.mark.slow
def test_pipeline_runs_resumes_and_reports(tiny_llama_dir: Path, tmp_path: Path) -> None:
    cfg = parse_config(_config(tmp_path, tiny_llama_dir))
    logs: list[str] = []
    result = run(cfg, logs.append)
    run_dir = Path(result["run_dir"])
    manifest = RunManifest(run_dir)
    assert all(rec.status == "done" for rec in manifest.steps.values())
    assert set(manifest.steps) == {"data", "stages", "eval_baseline", "train_stage1", "eval_stage1",
                                   "train_stage2", "eval_stage2", "train_stage3", "eval_stage3", "report"}
    md = (run_dir / "report" / "report.md").read_text()
    for label in ("Baseline (zero-shot)", "| w/ LoRA |", "w/ LoRA+D-plugin |", "w/ LoRA+D-plugin+Q-plugin"):
        assert label in md
    stage3_row = json.loads((run_dir / "eval" / "stage3" / "row.json").read_text())
    stage1_row = json.loads((run_dir / "eval" / "stage1" / "row.json").read_text())
    assert stage3_row["trainable"] > stage1_row["trainable"] > 0
    assert (run_dir / "train" / "stage3" / "log.jsonl").exists()

    # A re-run does nothing; changing only the evaluation reruns only the evaluations and the report.
    again: list[str] = []
    run(cfg, again.append)
    assert sum("skipped" in line for line in again) == 10
    raw = _config(tmp_path, tiny_llama_dir)
    raw["eval"]["max_new_tokens"] = 3
    changed: list[str] = []
    run(parse_config(raw), changed.append)
    redone = {line.split()[1].rstrip(":") for line in changed if line.endswith("...")}
    assert redone == {"eval_baseline", "eval_stage1", "eval_stage2", "eval_stage3", "report"}

    # Issue 17: a changed training setting never reuses the old checkpoints (weights used to stay
    # bit-identical while msft.json recorded the new lr); unchanged stages are not re-stepped.
    from safetensors.torch import load_file

    def stage1_weights():
        return load_file(run_dir / "train" / "stage1" / "stage1" / "adapter_model.safetensors")

    before = stage1_weights()
    raw["train"]["stage1"]["lr"] = 0.05
    relearned: list[str] = []
    run(parse_config(raw), relearned.append)
    after = stage1_weights()
    assert any("discarding the checkpoints" in line for line in relearned)
    assert any(not (before[k] == after[k]).all() for k in before)
    meta = json.loads((run_dir / "train" / "stage1" / "msft.json").read_text())
    assert meta["training"]["lr"] == 0.05 and meta["training"]["steps"] == 2


def test_dry_run_loads_no_weights(tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def _no_weights(*args, **kwargs):
        raise AssertionError("dry run must not load weights")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", _no_weights)
    lines: list[str] = []
    plan = dry_run(parse_config(_config(tmp_path, tiny_llama_dir)), lines.append)
    assert [p["stage"] for p in plan["params"]] == [1, 2, 3]
    assert all(p["new"] > 0 for p in plan["params"])
    assert any("[todo] train_stage3" in line for line in lines)


def test_run_cli_rejects_a_bad_recipe(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "msft": {"rank": 8}}))
    result = CliRunner().invoke(app, ["run", str(bad), "--dry-run"])
    assert result.exit_code == 2 and "msft.rank: unknown key" in result.output
