"""Stage-by-stage training end to end on a tiny random Llama (CPU, a few optimizer steps)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from msft_helpers import save_tiny_with_tokenizer, tiny_tokenizer, write_stage_data
from safetensors.torch import load_file

from formulaforge.models.msft import MSFTConfig
from formulaforge.models.msft.io import RunError
from formulaforge.training.data import IGNORE_INDEX, PadCollator, encode_record, prompt_ids
from formulaforge.training.recipe import PlanError, TrainSettings, plan, train_stage

CFG = MSFTConfig(r1=4, alpha=8, r2=16, r3=2, dropout=0.0)


def _settings(tmp: Path, model: Path, stage: int, out: str, **kw) -> TrainSettings:
    return TrainSettings(stage=stage, model=str(model), data=tmp / "stages", out=tmp / out, batch_size=2,
                         report_to=[], logging_steps=1, msft=MSFTConfig(**CFG.to_dict()), **kw)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("msft_train")
    save_tiny_with_tokenizer("llama", tmp / "base")
    write_stage_data(tmp / "stages", n=4)
    return tmp


def test_labels_only_and_truncation() -> None:
    tok = tiny_tokenizer()
    rec = {"input": "Let $x = 1$ be given. Write the formula.", "label": "$E = m c^2$"}
    enc = encode_record(rec, tok, max_input=512, max_output=384)
    n_prompt = len(prompt_ids(rec["input"], tok))
    assert enc["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert enc["labels"][n_prompt:] == enc["input_ids"][n_prompt:]
    assert enc["labels"][-1] == tok.eos_token_id
    short = encode_record(rec, tok, max_input=5, max_output=3)
    assert len(short["input_ids"]) == 8 and short["labels"][:5] == [IGNORE_INDEX] * 5
    batch = PadCollator(tok.pad_token_id)([enc, short])
    assert batch["input_ids"].shape == batch["labels"].shape
    assert (batch["labels"][1, 8:] == IGNORE_INDEX).all() and batch["attention_mask"][1].sum() == 8


def test_three_stages_freeze_earlier_weights(setup: Path) -> None:
    base = setup / "base"
    r1 = train_stage(_settings(setup, base, 1, "run1", max_steps=2), progress=lambda *_: None)
    assert r1["training"]["trained_stages"] == [1] and r1["training"]["steps"] == 2
    train_stage(_settings(setup, base, 2, "run2", max_steps=2, from_run=setup / "run1", mode="residual"),
                progress=lambda *_: None)
    train_stage(_settings(setup, base, 3, "run3", max_steps=2, from_run=setup / "run2"), progress=lambda *_: None)

    lora1 = load_file(setup / "run1/stage1/adapter_model.safetensors")
    lora3 = load_file(setup / "run3/stage1/adapter_model.safetensors")
    assert lora1.keys() == lora3.keys() and all(torch.equal(lora1[k], lora3[k]) for k in lora1)
    assert any(torch.count_nonzero(v) for k, v in lora1.items() if "lora_B" in k)  # stage I did train
    d2 = load_file(setup / "run2/stage2/plugin.safetensors")
    d3 = load_file(setup / "run3/stage2/plugin.safetensors")
    assert all(torch.equal(d2[k], d3[k]) for k in d2)
    assert any(torch.count_nonzero(v) for k, v in d2.items() if "D_up" in k)  # D_up left zero-init
    assert (setup / "run3/stage3/plugin.safetensors").is_file()


def test_joint_learning_retrains_earlier_stages(setup: Path) -> None:
    if not (setup / "run1").is_dir():
        train_stage(_settings(setup, setup / "base", 1, "run1", max_steps=2), progress=lambda *_: None)
    out = train_stage(_settings(setup, setup / "base", 2, "joint2", max_steps=2, from_run=setup / "run1", joint=True),
                      progress=lambda *_: None)
    assert out["training"]["trained_stages"] == [1, 2]
    before = load_file(setup / "run1/stage1/adapter_model.safetensors")
    after = load_file(setup / "joint2/stage1/adapter_model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "stage1/adapter_model.safetensors")


def test_resume_from_checkpoint(setup: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22/17: a killed run resumed with the same settings ends with the uninterrupted run's weights
    and loss; a finished run rerun counts no extra step; changed settings never reuse its checkpoints."""
    from formulaforge.training.trainer import AdapterOnlyTrainer

    quiet = lambda *_: None
    # 4 records / batch 2 -> 2 steps per epoch -> a checkpoint every 2 steps
    full = train_stage(_settings(setup, setup / "base", 1, "full", max_steps=4), progress=quiet)
    assert full["training"]["steps"] == 4

    real_step = AdapterOnlyTrainer.training_step
    calls = {"n": 0}

    def killed_after_two(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("killed")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(AdapterOnlyTrainer, "training_step", killed_after_two)
    with pytest.raises(RuntimeError, match="killed"):
        train_stage(_settings(setup, setup / "base", 1, "cut", max_steps=4), progress=quiet)
    assert (setup / "cut/checkpoints/checkpoint-2/msft_adapter.safetensors").is_file()
    monkeypatch.setattr(AdapterOnlyTrainer, "training_step", real_step)

    said: list[str] = []
    resumed = train_stage(_settings(setup, setup / "base", 1, "cut", max_steps=4), progress=said.append)
    assert any("resuming from" in s and "checkpoint-2" in s for s in said)
    assert resumed["training"]["steps"] == 4
    a, b = _weights(setup / "full"), _weights(setup / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["metrics"]["train_loss"] == pytest.approx(full["metrics"]["train_loss"], rel=1e-5)

    said.clear()
    again = train_stage(_settings(setup, setup / "base", 1, "cut", max_steps=4), progress=said.append)
    assert any("already complete" in s for s in said) and again["training"]["steps"] == 4
    assert again["metrics"]["train_loss"] == pytest.approx(full["metrics"]["train_loss"], rel=1e-5)
    assert all(torch.equal(a[k], v) for k, v in _weights(setup / "cut").items())

    with pytest.raises(PlanError, match=r"other settings \(lr 0.0001 -> 0.5.*--restart"):
        train_stage(_settings(setup, setup / "base", 1, "cut", max_steps=4, lr=0.5), progress=quiet)
    with pytest.raises(PlanError, match="other settings"):
        train_stage(_settings(setup, setup / "base", 1, "cut", max_steps=6), progress=quiet)
    assert all(torch.equal(a[k], v) for k, v in _weights(setup / "cut").items())  # nothing touched
    fresh = train_stage(_settings(setup, setup / "base", 1, "cut", max_steps=4, lr=0.5, restart=True),
                        progress=said.append)
    assert fresh["training"]["steps"] == 4 and "resumed_at_step" not in fresh["metrics"]
    assert any(not torch.equal(a[k], v) for k, v in _weights(setup / "cut").items())


def test_train_refuses_a_folder_it_did_not_write(setup: Path) -> None:
    other = setup / "thesis"
    other.mkdir()
    (other / "thesis.tex").write_text("mine")
    with pytest.raises(ValueError, match="not empty and was not written here"):
        train_stage(_settings(setup, setup / "base", 1, "thesis", max_steps=1), progress=lambda *_: None)
    assert sorted(p.name for p in other.iterdir()) == ["thesis.tex"]


def test_bad_requests_fail_before_training(setup: Path) -> None:
    base = setup / "base"
    if not (setup / "run1").is_dir():
        train_stage(_settings(setup, base, 1, "run1", max_steps=2), progress=lambda *_: None)
    with pytest.raises(PlanError, match="stage III needs stage II"):
        plan(_settings(setup, base, 3, "x", from_run=setup / "run1"))
    with pytest.raises(PlanError, match="stage 2 needs --from"):
        plan(_settings(setup, base, 2, "x"))
    with pytest.raises(PlanError, match="no training data for stage 1"):
        plan(TrainSettings(stage=1, model=str(base), data=setup / "nowhere", out=setup / "x"))
    other = save_tiny_with_tokenizer("qwen2", setup / "other")
    with pytest.raises(RunError, match="different base model"):
        train_stage(_settings(setup, other, 2, "x", from_run=setup / "run1", max_steps=1), progress=lambda *_: None)
    assert not (setup / "x").exists()


def test_plan_for_ablations(setup: Path) -> None:
    base = setup / "base"
    p = plan(_settings(setup, base, 3, "x", from_scratch=True))
    assert p["stages"] == [1, 2, 3] and p["trainable"] == [1, 2, 3] and p["existing"] == []
    with pytest.raises(PlanError, match="exclude each other"):
        plan(_settings(setup, base, 2, "x", from_scratch=True, joint=True))
    from formulaforge.models.loading import load_model
    from formulaforge.models.msft import MSFTAdapter
    from formulaforge.models.msft.io import save_run

    adapter = MSFTAdapter.inject(load_model(str(base)), MSFTConfig(**{**CFG.to_dict(), "mode": "residual"}), [1, 2])
    save_run(setup / "untrained2", adapter, str(base))
    with pytest.raises(PlanError, match="cannot switch to 'paper'"):
        plan(_settings(setup, base, 3, "x", from_run=setup / "untrained2", mode="paper"))
    s = _settings(setup, base, 3, "x", from_run=setup / "untrained2")
    s.msft = MSFTConfig(r1=8, alpha=8, r2=32, r3=4)
    plan(s)  # ranks of trained stages come from the run, not from the new settings
    assert (s.msft.r1, s.msft.r2, s.msft.r3) == (4, 16, 4)
