from __future__ import annotations

from pathlib import Path

import pytest

from formulaforge.pipeline.config import ConfigError, load_config, parse_config
from formulaforge.pipeline.manifest import RunManifest


def test_defaults_are_the_papers() -> None:
    cfg = parse_config({"name": "x"})
    assert (cfg.msft.r1, cfg.msft.alpha, cfg.msft.r2, cfg.msft.r3) == (64, 128, 512, 32)
    assert (cfg.train.stage1.epochs, cfg.train.stage2.epochs, cfg.train.stage3.epochs) == (10, 10, 20)
    assert cfg.train.stage1.lr == 1e-4 and cfg.eval.max_new_tokens == 384 and cfg.eval.runs == 5
    assert cfg.run_dir == Path("runs/x")


def test_every_problem_reported_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmsft:\n  r1: sixty-four\n  rank: 8\ntrain:\n  stage2:\n    lr: -1\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = str(err.value)
    assert "3 problem(s)" in text
    assert "msft.r1" in text and "msft.rank: unknown key" in text and "train.stage2.lr" in text


def test_structural_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="name"):
        parse_config({})
    with pytest.raises(ConfigError, match="start at 1"):
        parse_config({"name": "x", "train": {"stages": [2, 3]}})


def test_section_hash_tracks_settings() -> None:
    a, b = parse_config({"name": "x"}), parse_config({"name": "x", "msft": {"r2": 640}})
    assert a.section_hash("data") == b.section_hash("data")
    assert a.section_hash("msft") != b.section_hash("msft")


def test_manifest_resume(tmp_path: Path) -> None:
    m = RunManifest(tmp_path)
    m.start("data", "h1")
    assert not RunManifest(tmp_path).is_done("data", "h1")  # interrupted: started only
    m.finish("data", {"triplets": 10})
    again = RunManifest(tmp_path)
    assert again.is_done("data", "h1") and not again.is_done("data", "h2")
    assert again.steps["data"].outputs == {"triplets": 10} and again.steps["data"].seconds >= 0


def test_overrides_and_preflight(tmp_path: Path) -> None:
    from formulaforge.pipeline.config import preflight

    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\nmsft: {r2: 512}\n")
    cfg = load_config(recipe, ["msft.r2=256", "eval.runs=3", "train.stage3.epochs=5"])
    assert (cfg.msft.r2, cfg.eval.runs, cfg.train.stage3.epochs) == (256, 3, 5)
    with pytest.raises(ConfigError, match="KEY.PATH=VALUE"):
        load_config(recipe, ["msft.r2"])
    bad = parse_config({"name": "x", "data": {"sources": [str(tmp_path / "nope")]}, "model": {"name": "./missing"}})
    with pytest.raises(ConfigError) as err:
        preflight(bad)
    assert "nope" in str(err.value) and "./missing" in str(err.value)
    preflight(parse_config({"name": "x"}))  # docstrings + packaged alias: nothing to check on disk
