"""The equal-compute MSFT experiment end to end on a tiny random Llama (issue 18): arms, report, resume."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from corpus_helpers import write_corpus

from formulaforge.evaluation.paired import across_seeds, paired_difference, verdict
from formulaforge.pipeline.config import load_config, parse_config
from formulaforge.pipeline.manifest import RunManifest
from formulaforge.pipeline.run import run

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, model_dir: Path) -> dict:
    tiny = {"batch_size": 2, "max_input_tokens": 48, "max_output_tokens": 16, "lr": 1e-3}
    return {
        "name": "exp",
        "out": str(tmp_path / "runs" / "{name}"),
        "data": {"sources": [str(write_corpus(tmp_path))], "min_context_tokens": 16},
        "stages": {"stage12_subset": None, "stage3_subset": None, "max_chain": 4},
        "model": {"name": str(model_dir)},
        "msft": {"r1": 4, "alpha": 8, "r2": 8, "r3": 2, "mode": "paper"},
        "train": {"stage1": tiny, "stage2": tiny, "stage3": tiny},
        "experiment": {"seeds": [0, 1], "stage1_steps": 2, "stage2_steps": 1, "stage3_steps": 1, "nll_items": 4,
                       "gen_items": 2, "gen_max_new_tokens": 3, "gen_arms": ["A", "D"], "bootstrap": 200,
                       "save_steps": 1},
    }


@pytest.mark.slow
def test_experiment_runs_reports_and_resumes(tiny_llama_dir: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    cfg = parse_config(_config(tmp_path, tiny_llama_dir))
    logs: list[str] = []
    result = run(cfg, logs.append)
    run_dir = Path(result["run_dir"])
    manifest = RunManifest(run_dir)
    assert all(rec.status == "done" for rec in manifest.steps.values())
    for seed in (0, 1):
        for arm in "BCDEF":
            assert (run_dir / "exp" / f"seed{seed}" / arm / "nll.json").is_file()
    meta = {a: json.loads((run_dir / "exp" / "seed0" / a / "msft.json").read_text()) for a in "BCDEF"}
    assert meta["F"]["msft"]["r2"] == 12  # matched: 8 (4 + 2) / 4
    assert meta["F"]["training"]["steps"] == 2 and meta["C"]["training"]["steps"] == 1
    assert meta["B"]["stages"] == [1] and meta["D"]["stages"] == [1, 2, 3] and meta["E"]["stages"] == [1, 2]
    nll = [json.loads((run_dir / "exp" / "seed0" / a / "nll.json").read_text()) for a in "BC"]
    assert nll[0]["ids"] == nll[1]["ids"] and nll[0]["tokens"] == nll[1]["tokens"]  # the same held-out items
    md = (run_dir / "report" / "experiment.md").read_text()
    assert "**Conclusion.** On 4 held-out stage-I items and 2 seeds," in md
    for comparison in ("| C - B |", "| D - E |", "| D - F |", "| F - E |", "| A (stage I, shared) |", "| F |", "| D |"):
        assert comparison in md
    assert (run_dir / "report" / "per_seed.png").stat().st_size > 1000
    assert set(json.loads((run_dir / "report" / "experiment.json").read_text())["results"]) == {
        "C-B", "D-E", "D-F", "F-E"}

    # A killed arm: marked started, its final files gone, its checkpoint kept -> only it reruns, resuming
    # (its settings did not change, so the steps downstream keep their results).
    d0 = run_dir / "exp" / "seed0" / "D"
    (d0 / "msft.json").unlink()
    manifest.steps["arm_D_s0"].status = "started"
    manifest.save()
    again: list[str] = []
    redone = run(cfg, again.append)["timings"]  # the steps that ran this time
    assert set(redone) == {"arm_D_s0"}
    # from its checkpoint, not from scratch (a checkpoint at the last step is loaded, not trained on)
    assert any("resuming from" in line or "training already complete at" in line for line in again), again
    print(f"experiment smoke test: {time.perf_counter() - started:.0f} s wall")  # docs/benchmarks.md, issue 18


def test_paired_statistics_against_direct_computation() -> None:
    x = [(2.0, 2), (3.0, 3), (1.0, 1), (4.0, 2)]
    y = [(1.0, 2), (3.0, 3), (2.0, 1), (1.0, 2)]
    r = paired_difference(x, y, n_boot=500)
    assert abs(r["diff"] - (10 / 8 - 7 / 8)) < 1e-12 and r["lo"] <= r["diff"] <= r["hi"]
    better = [(0.5 * n, k) for n, k in y]
    s = across_seeds([(better, y), (better, y), (better, y)], n_boot=300)
    assert s["negative"] == 3 and s["hi"] < 0 and verdict(s) == "lower"
    assert verdict(across_seeds([(x, y), (y, x)], n_boot=300)) == "none"


def test_shipped_experiment_recipes_validate() -> None:
    for name in ("msft-stages-cpu.yaml", "msft-stages-gpu.yaml"):
        cfg = load_config(ROOT / "configs" / "experiments" / name)
        assert cfg.experiment is not None and len(cfg.experiment.seeds) >= 4
        assert cfg.msft.mode == "paper" and cfg.experiment.gen_arms == ["A", "C", "D", "F"]
        assert cfg.experiment.nll_items >= 30 and cfg.experiment.gen_items >= 100
        batches = {getattr(cfg.train, f"stage{n}").batch_size * getattr(cfg.train, f"stage{n}").grad_accum
                   for n in (1, 2, 3)}
        assert len(batches) == 1  # one batch size across the stages
