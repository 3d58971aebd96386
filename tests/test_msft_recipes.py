"""The shipped MSFT recipes do what the paper describes (issue 18, items 1, 3, 7)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from formulaforge.models.msft import MSFTAdapter, MSFTConfig
from formulaforge.models.msft.config import matched_d_rank, plugin_params_per_layer
from formulaforge.pipeline.config import load_config

ROOT = Path(__file__).resolve().parents[1]
PAPER_RECIPES = sorted(p for p in (ROOT / "configs").glob("*.yaml") if p.name.startswith(("paper-", "ablation-")))


@pytest.mark.parametrize("path", PAPER_RECIPES, ids=lambda p: p.name)
def test_paper_and_ablation_recipes_run_the_paper(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.msft.mode == "paper", f"{path.name} must run eqs. 1, 3, 4 as written"
    for n in cfg.train.stages:
        t = getattr(cfg.train, f"stage{n}")
        assert t.batch_size * t.grad_accum == 32, f"{path.name} stage {n}: one batch size (32) everywhere"
        assert t.weight_decay == 0.0
    assert cfg.msft.dropout == 0.05


def test_residual_is_offered_as_formulaforge_recipe() -> None:
    cfg = load_config(ROOT / "configs" / "formulaforge-residual-llama3-8b.yaml")
    paper = load_config(ROOT / "configs" / "paper-llama3-8b.yaml")
    assert cfg.msft.mode == "residual"
    assert cfg.train == paper.train and cfg.msft.model_dump(exclude={"mode"}) == paper.msft.model_dump(exclude={"mode"})
    assert MSFTConfig.from_file(ROOT / "configs" / "msft" / "paper.yaml").mode == "paper"
    assert MSFTConfig.from_file(ROOT / "configs" / "msft" / "residual.yaml").mode == "residual"


def _llama3_8b_shapes():
    """Llama-3-8B's architecture on the meta device: shapes only, no weights, no download."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def _added(r2: int, stages: tuple[int, ...]) -> int:
    adapter = MSFTAdapter.inject(_llama3_8b_shapes(), MSFTConfig(r1=64, alpha=128, r2=r2, r3=32), stages)
    return adapter.param_report()[-1].cumulative_params


def test_parameter_matched_control_from_the_shapes() -> None:
    assert matched_d_rank(64, 512, 32) == 768
    assert plugin_params_per_layer(64, 768) == plugin_params_per_layer(64, 512, 32)
    lora_d_q = _added(512, (1, 2, 3))
    assert _added(768, (1, 2)) == lora_d_q  # exactly matched on Llama-3-8B's shapes
    assert round(lora_d_q / 1e6, 1) == 67.1 and round(_added(640, (1, 2)) / 1e6, 1) == 65.0
    for name, r2 in (("ablation-r2-640.yaml", 640), ("ablation-r2-768.yaml", 768)):
        cfg = load_config(ROOT / "configs" / name)
        assert cfg.msft.r2 == r2 and cfg.train.stages == [1, 2]
    control = yaml.safe_load((ROOT / "configs" / "msft" / "control_r2_768.yaml").read_text())["msft"]
    assert control["r2"] == matched_d_rank(control["r1"], 512, control["r3"])


def test_dry_run_shows_paper_mode(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from formulaforge.pipeline.run import dry_run

    cfg = load_config(ROOT / "configs" / "paper-llama3-8b.yaml",
                      [f"model.name={tiny_llama_dir}", f"data.sources=[{tmp_path}]", f"out={tmp_path / 'run'}",
                       "msft.r1=4", "msft.r2=8", "msft.r3=2"])
    logs: list[str] = []
    dry_run(cfg, logs.append)
    assert any(line.startswith("msft: mode paper (eqs. 1, 3, 4 as written)") for line in logs)
    assert any("32 pairs per step" in line for line in logs)
