"""synth train / synth eval: curriculum phases on a tiny random Llama, prompts, label masking, eval output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.datasets.synthetic import sft
from formulaforge.datasets.synthetic.pipeline import finalize, generate_records, write_dataset
from formulaforge.training.data import IGNORE_INDEX, encode_record
from formulaforge.training.recipe import PlanError, TrainSettings, plan
from formulaforge.training.synth_curriculum import CurriculumConfig, run_curriculum
from formulaforge.utils.jsonl import read_jsonl

REPO = Path(__file__).resolve().parents[1]


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval, written out from its textbook formula."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return max(0.0, centre - half), min(1.0, centre + half)


CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def chat_llama(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama with a chat template, like SmolLM2-Instruct (so render_prompt takes the chat path)."""
    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("chat-llama")
    shutil.copytree(tiny_llama_dir, out, dirs_exist_ok=True)
    tok = AutoTokenizer.from_pretrained(out)
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth-data")
    out = {}
    for task, n in (("addition", 60), ("roots", 40)):
        res = generate_records(task, n, seed=1)
        write_dataset(root / task, res, finalize(res.records, 0.1, 0.2), {"seed": 1})
        out[task] = root / task
    return out


def tiny_config(**over) -> CurriculumConfig:
    raw = {
        "model": "unused", "order": ["roots", "addition"], "msft": {"r1": 4, "alpha": 8, "dropout": 0.0},
        "budget": {"steps": 2, "max_examples": 8, "batch_size": 2, "lr": 5e-2, "max_input_tokens": 180,
                   "max_output_tokens": 72},
        "seed": 0,
    }
    raw["budget"].update(over.pop("budget", {}))
    raw.update(over)
    return CurriculumConfig.from_dict(raw)


def test_prompt_has_instruction_and_box_and_loss_is_on_the_label_only(chat_llama: Path, synth_data) -> None:
    from transformers import AutoTokenizer

    from formulaforge.datasets.prompts import render_prompt

    tok = AutoTokenizer.from_pretrained(chat_llama)
    rec = next(read_jsonl(synth_data["roots"] / "train.jsonl"))
    row = sft.to_sft(rec)
    prompt = render_prompt(row["input"], tok)
    assert prompt.startswith("<|im_start|>user\n") and prompt.endswith("<|im_start|>assistant\n")
    assert rec["problem"] in prompt and sft.INSTRUCTION in prompt and "\\boxed{}" in prompt
    assert row["label"].endswith(f"\\boxed{{{rec['answer_latex']}}}.")

    enc = encode_record(row, tok, max_input=512, max_output=128)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert enc["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    target = enc["labels"][n_prompt:]
    assert IGNORE_INDEX not in target and target[-1] == tok.eos_token_id
    assert tok.decode(target[:-1]) == row["label"]
    assert enc["input_ids"][n_prompt:] == target


def test_sequential_phases_run_in_order_and_each_continues_from_the_previous(
        chat_llama: Path, synth_data, tmp_path: Path) -> None:
    # phase 2 has lr 0: its adapter can only equal phase 1's if it was loaded from it
    # (a fresh LoRA starts with B = 0).
    cfg_file = tmp_path / "c.yaml"
    cfg = tiny_config(model=str(chat_llama), phases={"addition": {"lr": 0.0}})
    import yaml

    raw = cfg.to_dict()
    cfg_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    out = tmp_path / "run"
    args = ["synth", "train", "--config", str(cfg_file), "--data", str(synth_data["addition"]),
            "--data", str(synth_data["roots"]), "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "curriculum.json").read_text())
    assert [p["name"] for p in meta["phases"]] == ["roots", "addition"]
    first, second = (Path(p["run"]) for p in meta["phases"])
    assert meta["phases"][0]["init_from"] is None and meta["phases"][1]["init_from"] == str(first)
    assert meta["final_run"] == str(second)
    for p, task in zip(meta["phases"], ["roots", "addition"], strict=True):
        rows = list(read_jsonl(out / "data" / Path(p["run"]).name / "stage1" / "train.jsonl"))
        assert {r["task"] for r in rows} == {task} and len(rows) == 8
        assert (Path(p["run"]) / "log.jsonl").is_file() and p["steps"] == 2
    m2 = json.loads((second / "msft.json").read_text())
    assert m2["training"]["init_from"] == str(first)
    w1 = load_file(str(first / "stage1" / "adapter_model.safetensors"))
    w2 = load_file(str(second / "stage1" / "adapter_model.safetensors"))
    b_keys = [k for k in w1 if "lora_B" in k]
    assert b_keys and any(w1[k].abs().sum() > 0 for k in b_keys)  # phase 1 learned something
    assert set(w1) == set(w2) and all(torch.equal(w1[k], w2[k]) for k in w1)

    # re-running skips finished phases instead of training again
    def boom(*a, **k):
        raise AssertionError("a finished phase was trained again")

    again = run_curriculum(CurriculumConfig.from_dict(raw), [synth_data["addition"], synth_data["roots"]], out,
                           progress=lambda s: None, train=boom)
    assert again["final_run"] == str(second)


def test_without_warm_start_a_phase_would_start_from_zero(chat_llama: Path, synth_data, tmp_path: Path) -> None:
    """Control for the test above: a single lr-0 phase leaves LoRA B at its zero init."""
    cfg = tiny_config(model=str(chat_llama), order=["addition"], budget={
        "steps": 1, "max_examples": 4, "batch_size": 2, "lr": 0.0, "max_input_tokens": 180, "max_output_tokens": 72})
    meta = run_curriculum(cfg, [synth_data["addition"]], tmp_path / "r", progress=lambda s: None)
    w = load_file(str(Path(meta["final_run"]) / "stage1" / "adapter_model.safetensors"))
    assert all(w[k].abs().sum() == 0 for k in w if "lora_B" in k)


def test_examples_that_would_be_cut_are_dropped_not_truncated(chat_llama: Path, synth_data, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from formulaforge.training.synth_curriculum import PhaseBudget, fits, write_phase_data

    tok = AutoTokenizer.from_pretrained(chat_llama)
    budget = PhaseBudget(max_examples=1000, max_input_tokens=125, max_output_tokens=24)
    phase = CurriculumConfig.from_dict({"order": ["addition", "roots"]}).phase_plan()[0]
    phase.budget = budget
    counts = write_phase_data(phase, {"addition": synth_data["addition"]}, 1, tmp_path, seed=0, tokenizer=tok)
    total = sum(1 for _ in read_jsonl(synth_data["addition"] / "train.jsonl"))
    rows = list(read_jsonl(tmp_path / "stage1" / "train.jsonl"))
    assert counts["dropped_too_long"] > 0 and counts["train"] == len(rows) == total - counts["dropped_too_long"]
    for r in rows:
        enc = encode_record(r, tok, max_input=10_000, max_output=10_000)
        n_label = sum(1 for y in enc["labels"] if y != IGNORE_INDEX)
        assert n_label <= 24 and len(enc["input_ids"]) - n_label <= 125 and fits(r, tok, budget)


def test_mixed_schedule_is_one_shuffled_phase(chat_llama: Path, synth_data, tmp_path: Path) -> None:
    seen = []

    def fake_train(settings: TrainSettings, progress=None):
        seen.append(settings)
        raise RuntimeError("stop")

    cfg = tiny_config(schedule="mixed", model=str(chat_llama))
    with pytest.raises(RuntimeError, match="stop"):
        run_curriculum(cfg, [synth_data["roots"], synth_data["addition"]], tmp_path, progress=lambda s: None,
                       train=fake_train)
    (s,) = seen
    rows = list(read_jsonl(s.data / "stage1" / "train.jsonl"))
    tasks = [r["task"] for r in rows]
    assert sorted(set(tasks)) == ["addition", "roots"] and len(rows) == 16
    assert tasks != sorted(tasks) and tasks != sorted(tasks, reverse=True)  # interleaved, not concatenated
    assert s.max_steps == 2 and s.init_from is None and s.stage == 1


def test_msft_plugins_option_trains_all_stages_and_continues(chat_llama: Path, synth_data, tmp_path: Path) -> None:
    cfg = tiny_config(model=str(chat_llama), adapter="msft", msft_stage=2,
                      msft={"r1": 4, "alpha": 8, "r2": 8, "r3": 4, "dropout": 0.0},
                      budget={"steps": 1, "max_examples": 4, "batch_size": 2, "lr": 1e-2, "max_input_tokens": 180,
                              "max_output_tokens": 72})
    meta = run_curriculum(cfg, [synth_data["addition"], synth_data["roots"]], tmp_path / "r", progress=lambda s: None)
    assert [p["trained_stages"] for p in meta["phases"]] == [[1, 2], [1, 2]]
    final = json.loads((Path(meta["final_run"]) / "msft.json").read_text())
    assert final["stages"] == [1, 2] and final["training"]["init_from"] == meta["phases"][0]["run"]
    assert (Path(meta["final_run"]) / "stage2" / "plugin.safetensors").is_file()


def test_continuing_needs_a_run_with_the_same_stages(chat_llama: Path, synth_data, tmp_path: Path) -> None:
    meta = run_curriculum(tiny_config(model=str(chat_llama), order=["addition"], budget={"steps": 1, "batch_size": 2,
                          "max_examples": 2}), [synth_data["addition"]], tmp_path / "r", progress=lambda s: None)
    data = tmp_path / "r" / "data" / "01-addition"
    shutil.copytree(data / "stage1", data / "stage2")
    with pytest.raises(PlanError, match="stages \\[1, 2\\]"):
        plan(TrainSettings(stage=2, model="x", data=data, out=tmp_path / "o", init_from=Path(meta["final_run"])))


@pytest.mark.parametrize("over,match", [
    ({"schedule": "random"}, "schedule"),
    ({"order": ["roots", "roots"]}, "each task once"),
    ({"phases": {"integrals": {"steps": 3}}}, "not phases"),
    ({"phases": {"roots": {"epochs": 3}}}, "unknown budget"),
    ({"adapter": "msft"}, "msft_stage"),
    ({"learning_rate": 1}, "unknown curriculum"),
])
def test_bad_configs_are_one_clear_error(over, match, synth_data, tmp_path: Path) -> None:
    import yaml

    raw = {"order": ["roots", "addition"], **over}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    res = CliRunner().invoke(app, ["synth", "train", "--config", str(path), "--data", str(synth_data["roots"]),
                                   "--data", str(synth_data["addition"]), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and match in res.output and "Traceback" not in res.output


def test_missing_task_data_is_a_clear_error(synth_data, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["synth", "train", "--config", str(REPO / "configs" / "synth" / "curriculum.yaml"),
                                   "--data", str(synth_data["roots"]), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no --data folder for task(s) addition, derivatives, integrals" in res.output


def test_shipped_config_states_a_cpu_budget() -> None:
    cfg = CurriculumConfig.from_file(Path(__file__).resolve().parents[1] / "configs" / "synth" / "curriculum.yaml")
    assert cfg.order == ["addition", "roots", "derivatives", "integrals"] and cfg.schedule == "sequential"
    total = sum(p.budget.steps for p in cfg.phase_plan())
    assert 0 < total <= 400 and cfg.budget.max_input_tokens <= 128


def test_eval_writes_predictions_and_checker_reports_for_base_and_finetuned(
        chat_llama: Path, synth_data, tmp_path: Path) -> None:
    # --n, --max-new-tokens and --batch-size default to the run's config
    cfg = tiny_config(model=str(chat_llama), budget={"steps": 1, "batch_size": 2, "max_examples": 2},
                      eval={"n_per_task": 3, "max_new_tokens": 6, "batch_size": 4})
    meta = run_curriculum(cfg, [synth_data["addition"], synth_data["roots"]], tmp_path / "run", progress=lambda s: None)
    out = tmp_path / "eval"
    res = CliRunner().invoke(app, ["synth", "eval", "--run", str(tmp_path / "run"), "--data", str(synth_data["roots"]),
                                   "--data", str(synth_data["addition"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    records = list(read_jsonl(out / "records.jsonl"))
    assert len(records) == 6 and {r["task"] for r in records} == {"addition", "roots"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"] == meta["final_run"] and set(summary["models"]) == {"base", "finetuned"}
    for label in ("base", "finetuned"):
        preds = list(read_jsonl(out / label / "predictions.jsonl"))
        assert [p["id"] for p in preds] == [r["id"] for r in records]
        assert all(0 < p["new_tokens"] <= 6 for p in preds)
        report = json.loads((out / label / "check.json").read_text())
        assert {r["id"] for r in report["rows"]} == {r["id"] for r in records}
        statuses = [r["status"] for r in report["rows"]]
        assert all(st in ("correct", "wrong", "no_answer", "unparsable", "timeout") for st in statuses)
        s = summary["models"][label]
        assert set(s["per_task"]) == {"addition", "roots"} and s["n"] == 6
        # the summary is the rows' own tally, and the interval is Wilson's (computed here, not by the project)
        k = statuses.count("correct")
        assert s["accuracy"] == pytest.approx(k / 6) and s["no_answer"] == pytest.approx(statuses.count("no_answer") / 6)
        lo, hi = _wilson(k, 6)
        assert s["accuracy_ci95"] == [pytest.approx(lo, abs=1e-4), pytest.approx(hi, abs=1e-4)]
        for task in ("addition", "roots"):
            task_of = {rec["id"]: rec["task"] for rec in records}
            rows = [r for r in report["rows"] if task_of[r["id"]] == task]
            assert s["per_task"][task]["n"] == len(rows) == 3


def test_eval_bad_run_is_one_clear_error(synth_data, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["synth", "eval", "--run", str(tmp_path), "--data", str(synth_data["roots"]),
                                   "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "neither" in res.output
