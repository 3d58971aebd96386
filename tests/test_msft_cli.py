"""The train / export / generate commands end to end on a tiny random Llama."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from msft_helpers import save_tiny_with_tokenizer, write_stage_data
from typer.testing import CliRunner

from formulaforge.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, (result.stdout if result.exit_code == 0 else result.output)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("msft_cli")
    save_tiny_with_tokenizer("llama", tmp / "base")
    write_stage_data(tmp / "stages", n=4)
    (tmp / "cfg.yaml").write_text("msft:\n  r1: 4\n  alpha: 8\n  r2: 16\n  r3: 2\n  dropout: 0.0\n"
                                  "training:\n  logging_steps: 1\n  report_to: []\n")
    common = ["--model", tmp / "base", "--data", tmp / "stages", "--config", tmp / "cfg.yaml", "--max-steps", "2",
              "--batch-size", "2"]
    code, out = _run("train", "--stage", "1", "--out", tmp / "run1", *common)
    assert code == 0, out
    code, out = _run("train", "--stage", "2", "--out", tmp / "run2", "--from", tmp / "run1", "--mode", "residual",
                     *common)
    assert code == 0, out
    return tmp


def test_train_writes_run_folder(trained: Path) -> None:
    meta = json.loads((trained / "run2" / "msft.json").read_text())
    assert meta["stages"] == [1, 2] and meta["msft"]["r2"] == 16 and meta["training"]["trained_stages"] == [2]
    assert [row["stage"] for row in meta["params"]] == [1, 2]


def test_export_and_generate_agree(trained: Path) -> None:
    code, out = _run("export", "lora", trained / "run2", "--out", trained / "lora")
    assert code == 0, out
    assert json.loads((trained / "lora" / "adapter_config.json").read_text())["r"] == 4
    code, out = _run("export", "merged", trained / "run2", "--out", trained / "merged")
    assert code == 0, out
    prompt = ["--prompt", "Let $x = 1$ be given. Write the formula.", "--greedy", "--max-new-tokens", "8"]
    outs = {}
    for name, extra in {"nested": ["--model", trained / "base", "--stages", trained / "run2"],
                        "peft": ["--model", trained / "base", "--adapter", trained / "lora"],
                        "merged": ["--model", trained / "merged"]}.items():
        code, text = _run("generate", *extra, *prompt)
        assert code == 0, text
        outs[name] = text
    assert outs["nested"].strip()
    assert outs["nested"] == outs["peft"] == outs["merged"]


def test_cli_errors_exit_2(trained: Path) -> None:
    common = ["--model", trained / "base", "--data", trained / "stages", "--config", trained / "cfg.yaml"]
    code, out = _run("train", "--stage", "3", "--out", trained / "bad", "--from", trained / "run1", *common)
    assert code == 2 and "stage III needs stage II" in out
    code, out = _run("train", "--stage", "1", "--out", trained / "bad", "--targets", "nope", *common)
    assert code == 2 and "'nope' match no projection" in out
    code, out = _run("train", "--stage", "1", "--out", trained / "bad", "--mode", "fancy", *common)
    assert code == 2 and "--mode" in out
    code, out = _run("export", "lora", trained / "stages", "--out", trained / "bad")
    assert code == 2 and "not an MSFT run folder" in out
    assert not (trained / "bad").exists()
