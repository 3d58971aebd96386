"""Issue 17, item 10: hostile recipes and settings files are one-line errors (exit 2), never tracebacks,
and path templates allow only their documented field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.models.msft import MSFTConfig
from formulaforge.pipeline.config import ConfigError, load_config, parse_config


def _run_cli(tmp_path: Path, text: str, *extra: str) -> tuple[int, str]:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    res = CliRunner().invoke(app, ["run", str(recipe), "--dry-run", *extra])
    return res.exit_code, res.output


@pytest.mark.parametrize(
    ("out", "why"),
    [("{foo}", "only {name} may appear in braces, got {foo}"),
     ("{name.__class__.__mro__}", "got {name.__class__.__mro__}"),
     ("{name[0]}", "got {name[0]}"),
     ("{name!r}", "got {name!r}"),
     ("{name:>99999999}", "got {name:>99999999}"),
     ("runs/{", "not a valid path template")],
)
def test_out_templates_allow_only_name(tmp_path: Path, out: str, why: str) -> None:
    code, text = _run_cli(tmp_path, yaml.safe_dump({"name": "x", "out": out}))
    assert code == 2 and why in text and "Traceback" not in text, text
    assert parse_config({"name": "x", "out": "runs/{name}/a"}).run_dir == Path("runs/x/a")
    code, text = _run_cli(tmp_path, yaml.safe_dump({"name": "x"}), "--out", "runs/" + out)
    assert code == 2 and text.startswith("error: --out") and why in text and "Traceback" not in text, text


def test_deep_yaml_is_one_line(tmp_path: Path) -> None:
    code, text = _run_cli(tmp_path, "name: x\ndata: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert code == 2 and "nested too deeply" in text and "Traceback" not in text, text
    code, text = _run_cli(tmp_path, "name: x\n  bad: [\n")
    assert code == 2 and "not valid YAML at line" in text


@pytest.mark.parametrize(
    ("override", "where"),
    [("train.stage1.lr=inf", "train.stage1.lr"), ("train.stage1.lr=.nan", "train.stage1.lr"),
     ("msft.r2=1000000000000", "msft.r2"), ("msft.r2=1.0e12", "msft.r2"), ("eval.runs=1e9", "eval.runs"),
     ("msft.alpha=.inf", "msft.alpha"), ("data.subsets={CF5K: -1}", "data.subsets")],
)
def test_absurd_numbers_fail_validation(tmp_path: Path, override: str, where: str) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x"}))
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        load_config(recipe, [override])


def test_train_settings_refuse_inf_lr_and_huge_ranks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="r2 must be an integer from 1 to 65536"):
        MSFTConfig.from_dict({"r2": 10**12})
    cfg = tmp_path / "c.yaml"
    cfg.write_text("msft:\n  r2: 1000000000000\n")
    res = CliRunner().invoke(app, ["train", "--stage", "1", "--model", "x", "--data", str(tmp_path),
                                   "--out", str(tmp_path / "o"), "--config", str(cfg)])
    assert res.exit_code == 2 and "r2 must be" in res.output
    (tmp_path / "stage1").mkdir()
    (tmp_path / "stage1" / "train.jsonl").write_text('{"input": "a", "label": "b"}\n')
    res = CliRunner().invoke(app, ["train", "--stage", "1", "--model", "x", "--data", str(tmp_path),
                                   "--out", str(tmp_path / "o"), "--lr", "inf"])
    assert res.exit_code == 2 and "--lr must be a finite number" in res.output, res.output
    deep = tmp_path / "d.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    res = CliRunner().invoke(app, ["train", "--stage", "1", "--model", "x", "--data", str(tmp_path),
                                   "--out", str(tmp_path / "o"), "--config", str(deep)])
    assert res.exit_code == 2 and "nested too deeply" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()
