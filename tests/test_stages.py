"""MSFT stage datasets: record content, splits, chains, manifest, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from formulaforge.commands.data_stages import stages
from formulaforge.datasets.stage_templates import StageTemplates
from formulaforge.datasets.stages import SPLITS, StageOptions, build_stages, clip_context, read_stage
from formulaforge.formula import normalize

TRIPLETS = [
    {"id": "d1-0", "doc_id": "d1", "formula": r"E = mc^{2}", "context_before": "Einstein wrote",
     "context_after": "where c is the speed of light.", "split": "train", "source": "x.tex"},
    {"id": "d1-1", "doc_id": "d1", "formula": r"\sum_{i=1}^{n} x_i^2 \le \left( \sum_i |x_i| \right)^2",
     "context_before": "By the triangle inequality", "context_after": "holds.", "split": "train", "source": "x.tex"},
    {"id": "d2-0", "doc_id": "d2", "formula": r"a+b\cdot c", "context_before": "The product binds",
     "context_after": "first.", "split": "validation", "source": "y.tex"},
    {"id": "d3-0", "doc_id": "d3", "formula": r"\frac{a+b}{c}^2", "context_before": "Square",
     "context_after": "it.", "split": "test", "source": "z.tex"},
    {"id": "d3-1", "doc_id": "d3", "formula": "   ", "context_before": "empty", "context_after": "formula",
     "split": "test", "source": "z.tex"},
]


def write_fixture(tmp_path: Path, rows: list[dict] = TRIPLETS) -> Path:
    src = tmp_path / "triplets"
    src.mkdir(parents=True)
    (src / "triplets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return src


def load(out: Path, stage: int, split: str) -> list[dict]:
    return list(read_stage(out, stage, split))


def test_stage_files_follow_the_paper(tmp_path: Path) -> None:
    out = tmp_path / "stages"
    manifest = build_stages(write_fixture(tmp_path), out)
    for stage in ("stage1", "stage2", "stage3"):
        assert sorted(p.name for p in (out / stage).iterdir()) == sorted(f"{s}.jsonl" for s in SPLITS)

    s1 = load(out, 1, "train")
    assert [r["source_id"] for r in s1] == ["d1-0", "d1-1"]
    assert s1[0]["label"] == "E=mc^2" == normalize(TRIPLETS[0]["formula"])
    assert "Einstein wrote" in s1[0]["input"] and "speed of light" in s1[0]["input"]
    assert "mc" not in s1[0]["input"]  # the formula is the label, never in the stage-I input
    assert all(set(r) >= {"input", "label", "id"} for r in s1)

    s2 = load(out, 2, "valid")
    assert len(s2) == 1 and s2[0]["label"] == r"a+b\cdot c" and r"a+b\cdot c" in s2[0]["input"]

    s3 = load(out, 3, "valid")
    assert [(r["input"].endswith(r"b\cdot c"), r["label"]) for r in s3] == [(True, r"a+b\cdot c")]
    s3_train = load(out, 3, "train")
    # written out by the chain rule (formula/chain.py): the right side is deeper (power > () > sum > |.| > x_i),
    # so the path goes down it; each element is an operand of the next
    chain = ["x_i", "|x_i|", r"\sum_i|x_i|", r"(\sum_i|x_i|)^2", r"\sum_{i=1}^n x_i^2\leq(\sum_i|x_i|)^2"]
    mine = [r for r in s3_train if r["source_id"] == "d1-1"]
    assert [r["label"] for r in mine] == chain[1:]
    assert all(r["input"].endswith(z) for r, z in zip(mine, chain[:-1]))
    assert mine[-1]["label"] == normalize(TRIPLETS[1]["formula"])

    assert manifest["counts"]["stage1"] == {"train": 2, "valid": 1, "test": 1}
    assert manifest["skipped_empty_formulas"] == 1
    pairs = sum(manifest["counts"]["stage3"].values())
    assert manifest["stage3"]["pairs_per_formula"] == round(pairs / 4, 3)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["leakage_check"] == {"formulas_in_several_splits": 0, "documents_in_several_splits": 0}
    ids = [r["id"] for s in (1, 2, 3) for sp in SPLITS for r in load(out, s, sp)]
    assert len(ids) == len(set(ids))


def test_splits_never_mix(tmp_path: Path) -> None:
    out = tmp_path / "stages"
    build_stages(write_fixture(tmp_path), out)
    split_of = {"d1": "train", "d2": "valid", "d3": "test"}
    for stage in (1, 2, 3):
        for split in SPLITS:
            assert all(split_of[r["doc_id"]] == split for r in load(out, stage, split))


def test_leakage_is_reported(tmp_path: Path) -> None:
    rows = [dict(TRIPLETS[0]), dict(TRIPLETS[0], id="dup", split="test")]
    manifest = build_stages(write_fixture(tmp_path, rows), tmp_path / "out")
    assert manifest["leakage_check"] == {"formulas_in_several_splits": 1, "documents_in_several_splits": 1}


@pytest.mark.parametrize("variant", ["mask", "shuffle"])
def test_denoising_variant(tmp_path: Path, variant: str) -> None:
    out = tmp_path / variant
    options = StageOptions(stage2_variant=variant, noise=0.5, seed=3)
    build_stages(write_fixture(tmp_path), out, options)
    rows = load(out, 2, "train")
    assert all(r["variant"] == variant and "corrupted" in r["input"] for r in rows)
    long = next(r for r in rows if r["source_id"] == "d1-1")
    noisy = long["input"].split("Corrupted formula: ", 1)[1]
    assert noisy.replace(" ", "") != long["label"].replace(" ", "")
    if variant == "mask":
        assert "<mask>" in noisy
    # deterministic
    build_stages(write_fixture(tmp_path / "again"), tmp_path / "again-out", options)
    assert load(tmp_path / "again-out", 2, "train") == rows


def test_templates_and_chain_bound(tmp_path: Path) -> None:
    tpl = StageTemplates(stage1="{context_before} [FORMULA] {context_after}", stage3="NEXT: {previous}")
    out = tmp_path / "t"
    build_stages(write_fixture(tmp_path), out, StageOptions(templates=tpl, max_chain=2))
    assert load(out, 1, "valid")[0]["input"] == "The product binds [FORMULA] first."
    s3 = load(out, 3, "train")
    assert all(r["input"].startswith("NEXT: ") and r["steps"] == 1 for r in s3)
    with pytest.raises(ValueError, match="unknown field"):
        StageTemplates(stage2="{context_before}")
    with pytest.raises(ValueError):
        StageOptions(stage2_variant="reverse")


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    bad = write_fixture(tmp_path, [dict(TRIPLETS[0], split="holdout")])
    with pytest.raises(ValueError, match="split"):
        build_stages(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def cli() -> typer.Typer:
    app = typer.Typer()
    data = typer.Typer()
    data.command("stages")(stages)
    app.add_typer(data, name="data")
    return app


def test_cli(tmp_path: Path) -> None:
    src = write_fixture(tmp_path)
    out = tmp_path / "stages"
    runner = CliRunner()
    result = runner.invoke(cli(), ["data", "stages", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "stage3:" in result.output and (out / "stage3" / "train.jsonl").is_file()
    again = runner.invoke(cli(), ["data", "stages", str(src), "--out", str(out)])
    assert again.exit_code == 0, again.output  # its own earlier output is replaced (marker, issue 17)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    refused = runner.invoke(cli(), ["data", "stages", str(src), "--out", str(foreign)])
    assert refused.exit_code == 2 and "--force" in refused.output
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    tpl = tmp_path / "t.yaml"
    tpl.write_text("stage2: 'COPY {formula}'\n")
    forced = runner.invoke(cli(), ["data", "stages", str(src), "--out", str(out), "--force", "--templates", str(tpl)])
    assert forced.exit_code == 0, forced.output
    assert load(out, 2, "test")[0]["input"].startswith("COPY ")
    missing = runner.invoke(cli(), ["data", "stages", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "triplets.jsonl" in missing.output and "Traceback" not in missing.output


def test_context_clipping_keeps_text_next_to_the_formula() -> None:
    before = " ".join(f"b{i}" for i in range(100))
    after = " ".join(f"a{i}" for i in range(100))
    b, a = clip_context(before, after, 30)
    assert len(b) <= 30 and len(a) <= 30
    assert b.endswith("b99") and a.startswith("a0")
    assert not b.startswith(" ") and b.split()[0].startswith("b")  # cut at a word boundary
    assert clip_context(" x ", " y ", None) == ("x", "y")
