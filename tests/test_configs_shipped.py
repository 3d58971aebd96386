"""Every shipped recipe validates against the schema (paths aside: they name user data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from formulaforge.pipeline.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
RUN_RECIPES = [p for p in CONFIGS if not p.name.startswith("botfip")]


@pytest.mark.parametrize("path", RUN_RECIPES, ids=lambda p: p.name)
def test_recipe_validates(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.name and cfg.train.stages[0] == 1
    if path.name.startswith("paper-"):
        assert (cfg.msft.r1, cfg.msft.alpha, cfg.msft.r2, cfg.msft.r3) == (64, 128, 512, 32)
        assert (cfg.train.stage1.epochs, cfg.train.stage2.epochs, cfg.train.stage3.epochs) == (10, 10, 20)
        assert cfg.train.stage1.max_input_tokens == 512 and cfg.eval.max_new_tokens == 384
